import { spawn } from 'node:child_process';
import { z } from 'zod';
import { loadSettings } from '../../config.js';
import { PipelineError } from '../../errors.js';
import { bootstrapDatabase } from '../../postgres/bootstrap.js';
import type { Logger } from '../../logger.js';
import { COMPONENTS, componentLog, stackDown, stackStatus, stackUp } from '../../stack/stack.js';
import type { ComponentName } from '../../stack/component.js';
import { parseCommandArgs, positiveInt } from '../args.js';

const USAGE = 'cdc stack up [--only postgres,kafka,...] | down [--purge] | status [--json] | logs NAME [--lines N] [--follow] | bootstrap';
const names = COMPONENTS.map((c) => c.name) as [ComponentName, ...ComponentName[]];

export async function stackCommand(argv: string[], log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'up': {
      const { values } = parseCommandArgs(rest, { only: { type: 'string' } }, z.object({ only: z.string().optional() }), USAGE);
      const only = values.only === undefined ? undefined : z.array(z.enum(names)).parse(values.only.split(','));
      const results = await stackUp(log, only);
      for (const r of results) console.log(`${r.name.padEnd(9)} ${r.action.padEnd(16)} ${(r.ms / 1000).toFixed(1)} s`);
      printStatus(log);
      return 0;
    }
    case 'down': {
      const { values } = parseCommandArgs(rest, { purge: { type: 'boolean' } }, z.object({ purge: z.boolean().optional() }), USAGE);
      const stopped = await stackDown(log, values.purge ?? false);
      console.log(stopped.length === 0 ? 'nothing was running' : `stopped: ${stopped.join(', ')}`);
      if (values.purge === true) console.log('data removed; the next stack up starts empty');
      return 0;
    }
    case 'status': {
      const { values } = parseCommandArgs(rest, { json: { type: 'boolean' } }, z.object({ json: z.boolean().optional() }), USAGE);
      if (values.json === true) console.log(JSON.stringify(stackStatus(log), null, 2));
      else printStatus(log);
      return stackStatus(log).every((c) => c.state === 'running') ? 0 : 3;
    }
    case 'logs': {
      const { values, positionals } = parseCommandArgs(
        rest,
        { lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' } },
        z.object({ lines: positiveInt.default(100), follow: z.boolean().optional() }),
        USAGE,
      );
      const name = positionals[0];
      if (name === undefined) throw new PipelineError('CLI_USAGE', 'stack logs needs a component name', { hint: `one of ${names.join(', ')}` });
      const file = componentLog(log, name);
      const args = ['-n', String(values.lines), ...(values.follow === true ? ['-F'] : []), file];
      return new Promise((resolve) => spawn('tail', args, { stdio: 'inherit' }).on('exit', (code) => resolve(code ?? 0)));
    }
    case 'bootstrap': {
      // For a Postgres this CLI did not start (docker-compose): roles and the shop database.
      parseCommandArgs(rest, {}, z.object({}), USAGE);
      await bootstrapDatabase(loadSettings());
      console.log('roles and database ready');
      return 0;
    }
    default:
      throw new PipelineError('CLI_USAGE', `unknown stack command "${sub ?? ''}"`, { hint: `usage: ${USAGE}` });
  }
}

function printStatus(log: Logger): void {
  const rows = stackStatus(log);
  console.log(`${'COMPONENT'.padEnd(10)}${'STATE'.padEnd(9)}${'PORT'.padEnd(7)}${'PID'.padEnd(9)}${'RSS MiB'.padEnd(9)}VERSION`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(10)}${r.state.padEnd(9)}${String(r.port).padEnd(7)}${String(r.pid ?? '-').padEnd(9)}${String(r.rssMiB ?? '-').padEnd(9)}${r.version}`);
  }
}
