import { z } from 'zod';
import { applyConnectorWithTopics, DEFAULT_CONNECTOR_FILES, loadConnectorFile } from '../../../connectors/apply.js';
import { ConnectClient } from '../../../connectors/connect-client.js';
import { loadSettings } from '../../config.js';
import { PipelineError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseCommandArgs } from '../args.js';

const USAGE = 'cdc connectors apply [FILE...] | status [--json] | restart NAME';

export async function connectorsCommand(argv: string[], log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  const client = new ConnectClient(loadSettings().connectUrl);
  switch (sub) {
    case 'apply': {
      const { positionals } = parseCommandArgs(rest, {}, z.object({}), USAGE);
      // Parse every file before touching Connect, so one bad file changes nothing.
      const files = (positionals.length > 0 ? positionals : DEFAULT_CONNECTOR_FILES).map(loadConnectorFile);
      for (const file of files) {
        const status = await applyConnectorWithTopics(file, log);
        console.log(`${file.name}: ${status.connector.state}, tasks ${status.tasks.map((t) => `${t.id}=${t.state}`).join(' ')}`);
      }
      return 0;
    }
    case 'status': {
      const { values } = parseCommandArgs(rest, { json: { type: 'boolean' } }, z.object({ json: z.boolean().optional() }), USAGE);
      const statuses = await Promise.all((await client.list()).map((name) => client.status(name)));
      if (values.json === true) console.log(JSON.stringify(statuses, null, 2));
      else if (statuses.length === 0) console.log('no connectors; run cdc connectors apply');
      for (const s of values.json === true ? [] : statuses) {
        if (s === undefined) continue;
        console.log(`${s.name}: ${s.connector.state} on ${s.connector.worker_id}; tasks ${s.tasks.map((t) => `${t.id}=${t.state}`).join(' ')}`);
        for (const t of s.tasks.filter((t) => t.trace !== undefined)) console.log(`  task ${t.id}: ${t.trace?.split('\n')[0]}`);
      }
      const failed = statuses.some((s) => s !== undefined && [s.connector, ...s.tasks].some((x) => x.state === 'FAILED'));
      return failed ? 2 : 0;
    }
    case 'restart': {
      const { positionals } = parseCommandArgs(rest, {}, z.object({}), USAGE);
      const name = positionals[0];
      if (name === undefined) throw new PipelineError('CLI_USAGE', 'connectors restart needs a connector name', { hint: `usage: ${USAGE}` });
      await client.restart(name);
      const status = await client.waitRunning(name, 90_000);
      console.log(`${name}: ${status.connector.state}, tasks ${status.tasks.map((t) => `${t.id}=${t.state}`).join(' ')}`);
      return 0;
    }
    default:
      throw new PipelineError('CLI_USAGE', `unknown connectors command "${sub ?? ''}"`, { hint: `usage: ${USAGE}` });
  }
}
