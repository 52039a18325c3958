import { z } from 'zod';
import { drainBench } from '../../bench/drain-bench.js';
import { readsBench } from '../../bench/reads-bench.js';
import { loadSettings } from '../../config.js';
import { PipelineError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseCommandArgs, positiveInt } from '../args.js';

const USAGE = 'cdc bench drain [--changes N] [--json] | reads [--keys N] [--connections N] [--duration S] [--json]';

export async function benchCommand(argv: string[], log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'reads') {
    const { values } = parseCommandArgs(
      rest,
      { keys: { type: 'string' }, connections: { type: 'string' }, duration: { type: 'string' }, json: { type: 'boolean' } },
      z.object({ keys: positiveInt.default(100), connections: positiveInt.default(32), duration: positiveInt.default(15), json: z.boolean().optional() }),
      USAGE,
    );
    const report = await readsBench(loadSettings(), log, { hotKeys: values.keys, connections: values.connections, durationS: values.duration }, (line) => console.log(line));
    if (values.json === true) console.log(JSON.stringify(report));
    return report.runs.every((r) => r.non2xx === 0 && r.errors === 0) ? 0 : 1;
  }
  if (sub !== 'drain') throw new PipelineError('CLI_USAGE', `unknown bench "${sub ?? ''}"`, { hint: `usage: ${USAGE}` });
  const { values } = parseCommandArgs(rest, { changes: { type: 'string' }, json: { type: 'boolean' } }, z.object({ changes: positiveInt.default(200_000), json: z.boolean().optional() }), USAGE);
  const report = await drainBench(loadSettings(), log, values.changes, (line) => console.log(line));
  if (values.json === true) console.log(JSON.stringify(report));
  console.log(
    `\nprojector ${Math.round(report.engineRate)} records/s = ${(report.ratioToLowerCeiling * 100).toFixed(0)}% of min(C_client ${Math.round(report.clientRate)}, C_store ${Math.round(report.storeRate)}); ` +
      `verify differences: ${report.verifyDifferences}; peak RSS ${report.peakRssMiB} MiB`,
  );
  return report.verifyDifferences === 0 ? 0 : 1;
}
