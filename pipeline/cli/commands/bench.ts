import { z } from 'zod';
import { drainBench } from '../../bench/drain-bench.js';
import { readsBench } from '../../bench/reads-bench.js';
import { rssBench } from '../../bench/rss-bench.js';
import { median, storeBench } from '../../bench/store-bench.js';
import { compareBench } from '../../bench/compare-bench.js';
import { chartSvg, markdownReport, targets } from '../../bench/compare-report.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSettings, PROJECT_ROOT } from '../../config.js';
import { limitHeapGrowth } from '../../engine/round-sizer.js';
import { PipelineError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { parseCommandArgs, positiveInt } from '../args.js';

const USAGE =
  'cdc bench compare [--quick] [--changes N] [--inserts N] [--freshness-seconds S] [--capacity-seconds S] [--rss-events N] [--rss-budgets 256,default] [--pairs N (3)] | drain [--changes N] [--json] | reads [--keys N] [--connections N] [--duration S] [--json] | rss [--events N] [--budgets 256,default] [--json] | store [--docs N] [--rounds N] [--json]';

/** "256,default": memory budgets in MiB, "default" for the worker without one. */
const budgetList = z
  .string()
  .regex(/^(\d+|default)(,(\d+|default))*$/, 'a comma-separated list of MiB figures or "default", e.g. 256,default')
  .transform((v) => v.split(',').map((b) => (b === 'default' ? undefined : Number(b))));

export async function benchCommand(argv: string[], log: Logger): Promise<number> {
  // W1 and the drains run their workers in this process: with the heap policy `cdc run` has.
  limitHeapGrowth(false);
  const [sub, ...rest] = argv;
  if (sub === 'compare') {
    const { values } = parseCommandArgs(
      rest,
      { quick: { type: 'boolean' }, changes: { type: 'string' }, inserts: { type: 'string' }, 'freshness-seconds': { type: 'string' }, 'capacity-seconds': { type: 'string' }, 'rss-events': { type: 'string' }, 'rss-budgets': { type: 'string' }, pairs: { type: 'string' } },
      z.object({
        quick: z.boolean().optional(),
        changes: positiveInt.optional(),
        inserts: positiveInt.optional(),
        'freshness-seconds': positiveInt.optional(),
        'capacity-seconds': positiveInt.optional(),
        'rss-events': z.coerce.number().int().min(0).optional(),
        'rss-budgets': budgetList.default([256, undefined]),
        pairs: z.coerce.number().int().min(1).max(9).default(3),
      }),
      USAGE,
    );
    const quick = values.quick === true;
    const options = {
      changes: values.changes ?? (quick ? 25_000 : 200_000),
      inserts: values.inserts ?? (quick ? 20_000 : 200_000),
      freshnessSeconds: values['freshness-seconds'] ?? (quick ? 15 : 60),
      capacitySeconds: values['capacity-seconds'] ?? (quick ? 10 : 30),
      rssEvents: values['rss-events'] ?? (quick ? 0 : 1_000_000),
      rssBudgets: values['rss-budgets'],
      pairs: values.pairs,
    };
    const report = await compareBench(loadSettings(), log, options, (line) => console.log(line));
    const dir = join(PROJECT_ROOT, 'bench-results');
    mkdirSync(dir, { recursive: true });
    const stem = `compare-${report.at.replace(/[:.]/g, '-')}`;
    writeFileSync(join(dir, `${stem}.svg`), chartSvg(report));
    writeFileSync(join(dir, `${stem}.json`), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(dir, `${stem}.md`), markdownReport(report, `${stem}.svg`));
    console.log('');
    for (const t of targets(report)) console.log(`${t.met ? 'met   ' : 'MISSED'} ${t.what}: ${t.reached} (goal ${t.goal})`);
    console.log(`\nreport: bench-results/${stem}.md (JSON and chart beside it)`);
    return report.w1.every((w) => w.differences === 0) ? 0 : 1;
  }
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
  if (sub === 'rss') {
    const { values } = parseCommandArgs(
      rest,
      { events: { type: 'string' }, budgets: { type: 'string' }, json: { type: 'boolean' } },
      z.object({ events: positiveInt.default(1_000_000), budgets: budgetList.default([256, undefined]), json: z.boolean().optional() }),
      USAGE,
    );
    const runs = await rssBench(loadSettings(), log, { events: values.events, budgets: values.budgets }, (line) => console.log(line));
    if (values.json === true) console.log(JSON.stringify(runs));
    return 0;
  }
  if (sub === 'store') {
    const { values } = parseCommandArgs(
      rest,
      { docs: { type: 'string' }, rounds: { type: 'string' }, json: { type: 'boolean' } },
      z.object({ docs: positiveInt.default(20_000), rounds: positiveInt.default(5), json: z.boolean().optional() }),
      USAGE,
    );
    const results = await storeBench(loadSettings(), { docs: values.docs, rounds: values.rounds }, (line) => console.log(line));
    if (values.json === true) console.log(JSON.stringify(results));
    for (const r of results) console.log(`${r.shape.padEnd(8)} median ${Math.round(median(r.inserts))} inserts/s, ${Math.round(median(r.replaces))} replaces/s (${values.rounds} rounds of ${values.docs})`);
    return 0;
  }
  if (sub !== 'drain') throw new PipelineError('CLI_USAGE', `unknown bench "${sub ?? ''}"`, { hint: `usage: ${USAGE}` });
  const { values } = parseCommandArgs(rest, { changes: { type: 'string' }, json: { type: 'boolean' } }, z.object({ changes: positiveInt.default(200_000), json: z.boolean().optional() }), USAGE);
  const report = await drainBench(loadSettings(), log, values.changes, (line) => console.log(line));
  if (values.json === true) console.log(JSON.stringify(report));
  console.log(
    `\nprojector ${Math.round(report.engineRate)} records/s = ${(report.ratioToLowerCeiling * 100).toFixed(0)}% of min(C_client ${Math.round(report.clientRate)}, C_store ${Math.round(report.storeRate)}); ` +
      `replay ${Math.round(report.replayRate)} records/s = ${(report.replayRate / report.engineRate).toFixed(2)}x the live drain; ` +
      `verify differences: ${report.verifyDifferences}; peak RSS ${report.peakRssMiB} MiB`,
  );
  return report.verifyDifferences === 0 ? 0 : 1;
}
