import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { runDrill, type DrillReport } from '../../drill/drill.js';
import { FAULT_KINDS, type FaultKind } from '../../drill/faults.js';
import { parseCommandArgs, positiveInt } from '../args.js';

const USAGE =
  'cdc drill [--duration S (600)] [--rate N (300)] [--outside-rate N (60)] [--faults N (24)]' +
  ' [--kinds worker,connect,kafka,store,postgres,redis] [--workers N (2)] [--seed N]' +
  ' [--name NAME (drill_<random>)] [--converge-timeout S (600)] [--keep] [--json]';

/**
 * The fault drill on a private copy of the shop: load plus an outside writer, kill -9 of every
 * component in turn, then convergence and verify. Exit 0 only with zero differences.
 */
export async function drillCommand(argv: string[], log: Logger): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      duration: { type: 'string' },
      rate: { type: 'string' },
      'outside-rate': { type: 'string' },
      faults: { type: 'string' },
      kinds: { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string' },
      name: { type: 'string' },
      'converge-timeout': { type: 'string' },
      keep: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    z.object({
      duration: positiveInt.default(600),
      rate: positiveInt.default(300),
      'outside-rate': positiveInt.default(60),
      faults: positiveInt.default(24),
      kinds: z
        .string()
        .default(FAULT_KINDS.join(','))
        .transform((s) => s.split(',').map((k) => k.trim()))
        .pipe(z.array(z.enum(FAULT_KINDS)).min(1)),
      workers: positiveInt.default(2),
      seed: z.coerce.number().int().default(1),
      // A fresh name per run by default: Connect keeps a deleted connector's source offsets, and a
      // connector of the same name would resume from them on a new slot, which Debezium refuses.
      name: z
        .string()
        .regex(/^[a-z][a-z0-9_]{0,40}$/, 'lower-case letters, digits and _')
        .default(() => `drill_${randomBytes(4).toString('hex')}`),
      'converge-timeout': positiveInt.default(600),
      keep: z.boolean().default(false),
      json: z.boolean().default(false),
    }),
    USAGE,
  );
  const started = Date.now();
  const report = await runDrill(
    {
      durationS: values.duration,
      rate: values.rate,
      outsideRate: values['outside-rate'],
      faults: values.faults,
      kinds: values.kinds as FaultKind[],
      workers: values.workers,
      seed: values.seed,
      name: values.name,
      convergeTimeoutS: values['converge-timeout'],
      keep: values.keep,
    },
    log,
    values.json ? () => undefined : (line) => console.log(line),
  );
  console.log(values.json ? JSON.stringify(report, null, 2) : formatDrill(report, Date.now() - started));
  return report.differences === 0 ? 0 : 1;
}

export function formatDrill(r: DrillReport, ms: number): string {
  const converge =
    r.convergeMs === null ? 'did not converge' : `${(r.convergeMs / 1000).toFixed(1)} s after the last fault`;
  const verified = r.verify
    .map(
      (v) =>
        `${v.projection}: ${v.expected} expected, ${v.missing} missing, ${v.unexpected} unexpected, ${v.different} different`,
    )
    .join('; ');
  const faults = Object.entries(r.faults)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  return [
    '',
    `drill ${r.name}: ${r.differences === 0 ? 'PASSED' : 'FAILED'} in ${Math.round(ms / 1000)} s`,
    `  source transactions   ${r.transactions} (${r.failedTransactions} writes broken by faults, rolled back)`,
    `  faults survived       ${Object.values(r.faults).reduce((a, b) => a + b, 0)}: ${faults}`,
    `  worker exits          ${r.workerExits} (restarted by the supervisor), connector restarts ${r.connectorRestarts}`,
    `  largest lag           ${r.largestLag} records`,
    `  time to converge      ${converge}`,
    `  differences           ${r.differences} (${verified})`,
  ].join('\n');
}
