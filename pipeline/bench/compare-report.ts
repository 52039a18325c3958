import type { CompareReport, StoreProfile } from './compare-bench.js';
import type { CpuSpan } from './cpu-accounting.js';
import type { DrainRun } from './drain-timer.js';
import { describeKinds, GC, IDLE, shareOf, type ThreadProfile } from './thread-profile.js';
import { DEFAULT_ROUND_CHANGES } from '../worker/run-worker.js';

export interface Target {
  what: string;
  goal: string;
  reached: string;
  met: boolean;
  /** For a missed target: where the time (or the memory) went, from this run's own measurements. */
  why?: string;
}

const pct = (share: number) => `${Math.round(share * 100)}%`;
/** Cores a process used on average over a span (0 for an empty span). */
const coresOf = (span: CpuSpan, process: string) => (span.wallSeconds > 0 ? (span.processes[process] ?? 0) / span.wallSeconds : 0);
const perCore = (span: CpuSpan, process: string) => (span.wallSeconds > 0 ? coresOf(span, process).toFixed(2) : '?');

/** What bounds W1: its own thread when the profile (or the process's CPU) says it was busy throughout. */
function w1Limit(w: CompareReport['w1'][number]): string {
  const t = w.profiled?.thread;
  const busy = t === undefined ? coresOf(w.oursCpu, 'worker') : t.busy;
  const seen = `Over W1's median drain its process used ${perCore(w.oursCpu, 'worker')} of a core and the store ${perCore(w.oursCpu, 'store')}${
    t === undefined ? '' : `; in one more drain under the profiler (${Math.round(w.profiled?.rate ?? 0)} events/s) the worker's JavaScript thread was busy ${pct(t.busy)} of the time once at work (${t.activeSeconds.toFixed(1)} of ${t.seconds.toFixed(1)} s; start-up's waits left out)`
  }`;
  const bound = busy >= 0.85 ? "W1 is bound by the worker's one thread, not by the store" : `the thread waited ${pct(1 - busy)} of the time, on the store or on Kafka`;
  return `${seen}: ${bound}.${t === undefined ? '' : ` Its busy time: ${describeKinds(t)}.`}`;
}

/** Store seconds (summed over concurrent calls) per 1,000 events of a drain, all operations but the round total. */
function storeSecondsPerThousand(profile: StoreProfile[], records: number): number {
  const seconds = profile.filter((p) => !p.operation.startsWith('apply')).reduce((sum, p) => sum + p.seconds, 0);
  return records === 0 ? 0 : (seconds * 1000) / records;
}

function w2Why(r: CompareReport, w1Mix: CompareReport['w1'][number]): string {
  const cpu = r.w2.cpu;
  const machine = cpu.wallSeconds > 0 ? cpu.machineSeconds / cpu.wallSeconds : 0;
  const saturated = machine >= 0.85 * cpu.cores;
  const parts = [
    `W2's drain kept the machine at ${machine.toFixed(2)} of its ${cpu.cores} cores (store ${perCore(cpu, 'store')}, worker ${perCore(cpu, 'worker')})${saturated ? ': it had no idle core to grow into' : ''}${
      coresOf(cpu, 'store') >= 0.9 ? ', and the store, which applies one collection\'s writes one at a time, was busy a whole core' : ''
    }.`,
    `It does more per event than W1: two projections, each order's document joined with its lines, customer and products, and fan-out to every order embedding a changed row; the store spent ${storeSecondsPerThousand(r.w2.profile, r.w2.records).toFixed(2)} s per 1,000 events for W2 against ${storeSecondsPerThousand(w1Mix.profile, w1Mix.records).toFixed(2)} s for W1 (the store table below).`,
  ];
  if (r.w2.thread !== undefined) parts.push(`The worker's thread was busy ${pct(r.w2.thread.busy)} of the time once at work: ${describeKinds(r.w2.thread)}.`);
  return parts.join(' ');
}

function rssWhy(r: CompareReport): string {
  const budgeted = (r.rss ?? []).find((run) => run.memoryMiB !== null && run.memoryMiB <= 256);
  const byDefault = (r.rss ?? []).find((run) => run.memoryMiB === null);
  const heap = r.w2.thread === undefined ? '' : ` Garbage collection took ${pct(shareOf(r.w2.thread, GC))} of its thread.`;
  const head = `The default worker takes rounds of up to ${DEFAULT_ROUND_CHANGES.toLocaleString('en-US')} changes and queues the next one while it writes: coalescing a backlog in large rounds is what makes it fast, and those changes are what it holds.${heap}`;
  if (budgeted === undefined) return `${head} \`cdc run --memory-mib 256\` sizes rounds from the memory it measures instead; \`--rss-events N\` measures both on a large backlog.`;
  const rate = byDefault === undefined ? '' : ` (${(budgeted.rate / byDefault.rate).toFixed(2)}× the default's rate)`;
  return `${head} Under \`${budgeted.label}\` the same worker peaked at ${budgeted.peakRssMiB} MiB at ${Math.round(budgeted.rate).toLocaleString('en-US')} events/s${rate} on the large backlog.`;
}

/** The issue's targets, each with what this run reached. */
export function targets(r: CompareReport): Target[] {
  const [mix, inserts] = r.w1;
  const lower = Math.min(r.cClient, r.cStore);
  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  const out: Target[] = [];
  const versus = (w: CompareReport['w1'][number]) =>
    w.sinkError === undefined ? `${w.ratio.toFixed(2)}× (${f(w.ours.rate)} vs ${f(w.sink.rate)} events/s)` : `ours ${f(w.ours.rate)} events/s; the sink did not finish (${w.sinkError.slice(0, 160)})`;
  if (mix !== undefined) {
    const sinkSide = `The sink connector's median drain: Connect ${perCore(mix.sinkCpu, 'connect')} of a core, the store ${perCore(mix.sinkCpu, 'store')}.`;
    const vsSinkMet = mix.sinkError === undefined && mix.ratio >= 2;
    out.push({ what: 'W1 vs sink connector, change mix', goal: '≥ 2.0×', reached: versus(mix), met: vsSinkMet, why: `${w1Limit(mix)} ${sinkSide}` });
    const t = mix.profiled?.thread;
    const ceilings =
      t === undefined
        ? ''
        : ` C_client only fetches and parses, C_store only writes; W1 does both on one thread: the Kafka client and decoding took ${pct(shareOf(t, 'Kafka client (kafkajs)') + shareOf(t, 'ours: decoding changes (JSON.parse included)'))} of it, BSON and the MongoDB driver ${pct(shareOf(t, 'BSON encoding and decoding') + shareOf(t, 'MongoDB driver'))}, garbage collection ${pct(shareOf(t, GC))}.`;
    out.push({ what: 'W1 vs min(C_client, C_store)', goal: '≥ 0.8×', reached: `${(mix.ours.rate / lower).toFixed(2)}× (${f(mix.ours.rate)} vs ${f(lower)})`, met: mix.ours.rate >= 0.8 * lower, why: `${vsSinkMet ? w1Limit(mix) : 'The same limit as against the sink connector, above.'}${ceilings}` });
    out.push({ what: 'W2 vs W1 (change mix)', goal: '≥ 0.5×', reached: `${(r.w2.rate / mix.ours.rate).toFixed(2)}× (${f(r.w2.rate)} vs ${f(mix.ours.rate)} events/s)`, met: r.w2.rate >= 0.5 * mix.ours.rate, why: w2Why(r, mix) });
  }
  if (inserts !== undefined) out.push({ what: 'W1 vs sink connector, inserts only', goal: '≥ 1.0×', reached: versus(inserts), met: inserts.sinkError === undefined && inserts.ratio >= 1 });
  out.push({ what: 'end-to-end p99 at half capacity', goal: '≤ 300 ms', reached: `${r.freshness.p99Ms} ms`, met: r.freshness.p99Ms <= 300 });
  out.push({ what: 'worker peak RSS (W2 drain)', goal: '≤ 256 MiB', reached: `${r.w2.peakRssMiB} MiB over ${f(r.w2.records)} records`, met: r.w2.peakRssMiB <= 256, why: rssWhy(r) });
  for (const run of r.rss ?? []) out.push({ what: `worker peak RSS, ${f(run.records)}-event backlog, ${run.label}`, goal: '≤ 256 MiB', reached: `${run.peakRssMiB} MiB at ${f(run.rate)} events/s`, met: run.peakRssMiB <= 256 });
  out.push({ what: 'W1 and sink outputs equal', goal: '0 differences', reached: r.w1.map((w) => `${w.workload}: ${w.differences} of ${w.compared}`).join(', '), met: r.w1.every((w) => w.differences === 0) });
  return out;
}

export function markdownReport(r: CompareReport, chartFile: string): string {
  const all = targets(r);
  const rows = all.map((t) => `| ${t.what} | ${t.goal} | ${t.reached} | ${t.met ? 'met' : '**missed**'} |`).join('\n');
  const missed = all.filter((t) => !t.met && t.why !== undefined);
  const why = missed.length === 0 ? '' : `\n### Why the missed ones are missed\n\nFrom this run's own measurements (the tables below):\n\n${missed.map((t) => `- **${t.what}.** ${t.why}`).join('\n')}\n`;
  const rates = (xs: number[]) => xs.map((x) => Math.round(x)).join(', ');
  const w1 = r.w1
    .map((w) => `| ${w.workload} | ${w.records.toLocaleString('en-US')} | ${Math.round(w.ours.rate)} | ${w.sinkError === undefined ? Math.round(w.sink.rate) : `did not finish: ${w.sinkError.slice(0, 120)}`} | ${w.sinkError === undefined ? `${w.ratio.toFixed(2)}×` : '-'} | ${rates(w.oursRates)} / ${rates(w.sinkRates)} | ${w.differences} / ${w.compared} |`)
    .join('\n');
  const diffs = r.w1.flatMap((w) => w.firstDifferences.map((d) => `- ${w.workload} ${d}`)).join('\n');
  return `# cdc bench compare, ${r.at}

Options: ${JSON.stringify(r.options)}. One machine, one run; each rate is records over the time from
the contender's start to zero lag, start-up and group join included for every contender alike
(a few seconds: small --quick backlogs understate every rate).

## Targets

| target | goal | reached | |
|---|---|---|---|
${rows}
${why}
## Ceilings

Both over the mix's orders topic, the backlog W1 drains:

- C_client, a no-op kafkajs consumer (JSON-parses every record, commits after each batch):
  ${Math.round(r.cClient)} records/s from its start to zero lag, on the contenders' clock
  (${Math.round(r.cClientSteady)} records/s from its first batch to its last)
- C_store, raw unordered bulk upserts of 500, one per event (a delete per delete event), on a
  store warmed by an untimed pass of the same writes: ${Math.round(r.cStore)} events/s
- For reference, only the final W1 documents upserted raw: ${Math.round(r.cStoreFinalDocs)} docs/s

## W1 (order_rows) beside the MongoDB Kafka sink connector 2.0.1

Each ran ${r.options.pairs} time(s) per workload, alternately (ours first); the rates below are the
medians, the ratio is theirs, and every run's output was compared.

| workload | records | ours (events/s) | sink (events/s) | ratio | every run, ours / sink | differing documents |
|---|---|---|---|---|---|---|
${w1}
${diffs === '' ? '' : `\nFirst differences:\n${diffs}\n`}
## W2 (order_views + customer_views)

${Math.round(r.w2.rate)} events/s over ${r.w2.records} records in ${r.w2.seconds.toFixed(1)} s; worker peak RSS ${r.w2.peakRssMiB} MiB.

### Where the time went

What each drain spent in the store, by operation (seconds summed over concurrent calls, so
they can add up to more than the drain); the store's own CPU profile is in docs/PERFORMANCE.md.

${profileTable([...r.w1.map((w) => [`W1 ${w.workload}`, w.profile] as const), ['W2', r.w2.profile] as const])}

### Where the CPU went

Every process of the stack shares this machine's cores, so a contender gets what the others leave
it. CPU seconds per second of each drain (1.00 is one core busy the whole drain; start-up
included; Postgres with its backends; "rest" is every other process, the bench's included):

${cpuTable([
  ...r.w1.flatMap((w) => [[`W1 ours, ${w.workload} (the worker: the bench's process)`, w.oursCpu] as const, [`sink connector, ${w.workload} (in Connect)`, w.sinkCpu] as const]),
  ['W2 (the worker: its own process)', r.w2.cpu] as const,
])}

${threadSection(r)}${rssSection(r)}## End-to-end freshness

The workload: updates of the 500 newest orders' notes, each rewriting an order_views document and
reading (not rewriting: amount and time are unchanged) its customer_views document. Its capacity, measured closed loop (8 writers as fast as Postgres commits, for ${r.options.capacitySeconds} s, while the
worker projects on the same machine): ${r.freshness.capacity} updates/s made visible (${r.freshness.capacityUpdates} updates).
Open-loop updates at half of it, ${r.freshness.targetRate}/s, for ${r.options.freshnessSeconds} s; delay from each
update's intended time to applied: p50 ${r.freshness.p50Ms} ms, p95 ${r.freshness.p95Ms} ms, p99 ${r.freshness.p99Ms} ms,
max ${r.freshness.maxMs} ms (${r.freshness.samples} samples).

Where the delay went (p50 / p99): the load's own queue, intended time to the Postgres commit,
${r.freshness.stages.source.p50Ms} / ${r.freshness.stages.source.p99Ms} ms; Debezium, commit to the Kafka record's timestamp,
${r.freshness.stages.debezium.p50Ms} / ${r.freshness.stages.debezium.p99Ms} ms; the worker, record to applied, ${r.freshness.stages.worker.p50Ms} / ${r.freshness.stages.worker.p99Ms} ms.

![throughput over time and latency distribution](${chartFile})
`;
}

/**
 * Events/s over a sliding window: progress is only visible at offset commits (ours per round, the
 * sink's once a second), so rates between two samples would be spikes.
 */
function rates(run: DrainRun, windowS = 2): [number, number][] {
  const out: [number, number][] = [];
  let from = 0;
  for (let i = 1; i < run.series.length; i++) {
    const [t1, c1] = run.series[i] as [number, number];
    while (from < i && t1 - (run.series[from] as [number, number])[0] > windowS) from += 1;
    const [t0, c0] = run.series[Math.max(0, from - 1)] as [number, number];
    if (t1 > t0) out.push([t1, (c1 - c0) / (t1 - t0)]);
  }
  return out;
}

function polyline(points: [number, number][], x: (v: number) => number, y: (v: number) => number, color: string): string {
  return `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ')}"/>`;
}

/** Two panels as one SVG: throughput over time per contender, and the freshness distribution. */
export function chartSvg(r: CompareReport): string {
  const contenders: [string, DrainRun, string][] = [
    ...r.w1.flatMap((w): [string, DrainRun, string][] => [
      [`W1 ours (${w.workload})`, w.ours, w.workload === 'mix' ? '#1f77b4' : '#17becf'],
      [`sink connector (${w.workload})`, w.sink, w.workload === 'mix' ? '#d62728' : '#ff9896'],
    ]),
    ['W2 ours (mix)', r.w2, '#2ca02c'],
  ];
  const series = contenders.map(([label, run, color]) => ({ label, color, points: rates(run) }));
  const maxT = Math.max(1, ...series.flatMap((s) => s.points.map(([t]) => t)));
  const maxR = Math.max(1, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const [W, H, L, T, PW, PH] = [960, 760, 70, 40, 860, 280];
  const x1 = (t: number) => L + (t / maxT) * PW;
  const y1 = (v: number) => T + PH - (v / maxR) * PH;
  const delays = r.freshness.delaysMs;
  const maxD = Math.max(1, ...delays);
  const T2 = T + PH + 110;
  const x2 = (d: number) => L + (d / maxD) * PW;
  const y2 = (p: number) => T2 + PH - p * PH;
  const cdf: [number, number][] = delays.map((d, i) => [d, (i + 1) / delays.length]);
  const legend = series.map((s, i) => `<rect x="${L + 10}" y="${T + 10 + i * 18}" width="12" height="12" fill="${s.color}"/><text x="${L + 28}" y="${T + 21 + i * 18}" font-size="12">${s.label}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="${T - 15}" font-size="15">Throughput over time (events/s, 2 s window)</text>
<line x1="${L}" y1="${T + PH}" x2="${L + PW}" y2="${T + PH}" stroke="black"/><line x1="${L}" y1="${T}" x2="${L}" y2="${T + PH}" stroke="black"/>
<text x="${L - 5}" y="${T + 5}" font-size="11" text-anchor="end">${Math.round(maxR)}</text><text x="${L - 5}" y="${T + PH}" font-size="11" text-anchor="end">0</text>
<text x="${L + PW}" y="${T + PH + 16}" font-size="11" text-anchor="end">${maxT.toFixed(0)} s</text>
${series.map((s) => polyline(s.points, x1, y1, s.color)).join('\n')}
${legend}
<text x="${L}" y="${T2 - 15}" font-size="15">End-to-end delay at half capacity: cumulative distribution (p99 ${r.freshness.p99Ms} ms)</text>
<line x1="${L}" y1="${T2 + PH}" x2="${L + PW}" y2="${T2 + PH}" stroke="black"/><line x1="${L}" y1="${T2}" x2="${L}" y2="${T2 + PH}" stroke="black"/>
<text x="${L - 5}" y="${T2 + 5}" font-size="11" text-anchor="end">100%</text><text x="${L - 5}" y="${T2 + PH}" font-size="11" text-anchor="end">0</text>
<text x="${L + PW}" y="${T2 + PH + 16}" font-size="11" text-anchor="end">${maxD} ms</text>
${polyline(cdf, x2, y2, '#9467bd')}
<line x1="${L}" y1="${y2(0.99)}" x2="${L + PW}" y2="${y2(0.99)}" stroke="#999" stroke-dasharray="4 4"/><text x="${L + PW}" y="${y2(0.99) - 4}" font-size="11" text-anchor="end">p99</text>
</svg>
`;
}

/** The workers' JavaScript threads from V8's sampling profiler: share of each kind of work, and the top functions. */
function threadSection(r: CompareReport): string {
  const profiled: [string, ThreadProfile][] = [
    ...r.w1.flatMap((w): [string, ThreadProfile][] => (w.profiled === undefined ? [] : [[`W1 ${w.workload} (${Math.round(w.profiled.rate)} events/s)`, w.profiled.thread]])),
    ...(r.w2.thread === undefined ? [] : [['W2 (start to exit)', r.w2.thread] as [string, ThreadProfile]]),
  ];
  if (profiled.length === 0) return '';
  const kinds = [...new Set(profiled.flatMap(([, t]) => t.kinds.map((k) => k.kind)))];
  kinds.sort((a, b) => Number(a === IDLE) - Number(b === IDLE) || Math.max(...profiled.map(([, t]) => shareOf(t, b))) - Math.max(...profiled.map(([, t]) => shareOf(t, a))));
  const table = [`| kind of work | ${profiled.map(([name]) => name).join(' | ')} |`, `|---|${profiled.map(() => '---:').join('|')}|`, ...kinds.map((k) => `| ${k} | ${profiled.map(([, t]) => pct(shareOf(t, k))).join(' | ')} |`)].join('\n');
  const tops = profiled.map(([name, t]) => `- ${name}: ${t.top.map((x) => `\`${x.fn}\` (${x.where}) ${(x.share * 100).toFixed(1)}%`).join(', ')}`).join('\n');
  return `### Where the worker's thread went

V8's sampling profiler on the worker's JavaScript thread (a sample every millisecond): W1 in one
more drain after the timed ones (the worker runs in the bench's process, so this includes the
bench's lag polling), W2 over its timed drain, from the process's start to its exit (its rate
above was measured with the sampling on). Shares are of the active part of each profile, from
the first 100 ms the thread was busy half the time to the last (start-up's waits for the group
and the store left out); a thread busy throughout is the limit of its drain.

${table}
| seconds: active of profiled | ${profiled.map(([, t]) => `${t.activeSeconds.toFixed(1)} of ${t.seconds.toFixed(1)}`).join(' | ')} |

Functions with the most self time (idle and garbage collection left out; native code is counted
in the function that called it, e.g. \`JSON.parse\` in \`parseJson\`):

${tops}

`;
}

function rssSection(r: CompareReport): string {
  if (r.rss === undefined || r.rss.length === 0) return '';
  const rows = r.rss.map((run) => `| ${run.label} | ${run.records.toLocaleString('en-US')} | ${Math.round(run.rate)} | ${run.seconds.toFixed(0)} | ${run.peakRssMiB} |`).join('\n');
  return `## Worker memory on a large backlog

Orders (over 20,000 customers) and their lines inserted 5,000 orders per transaction, drained by a \`cdc run\` process per
row (its own group and database); peak resident memory read from its /metrics.

| worker | records | events/s | seconds | peak RSS (MiB) |
|---|---|---|---|---|
${rows}

`;
}

const CPU_COLUMNS = ['store', 'worker', 'kafka', 'connect', 'postgres'] as const;

function cpuTable(drains: (readonly [string, CpuSpan | undefined])[]): string {
  const rows = drains.flatMap(([name, span]) => {
    if (span === undefined || span.wallSeconds <= 0) return [];
    const cores = (seconds: number | undefined) => (seconds === undefined ? '-' : (seconds / span.wallSeconds).toFixed(2));
    const named = CPU_COLUMNS.reduce((sum, c) => sum + (span.processes[c] ?? 0), 0);
    return [`| ${name} | ${span.wallSeconds.toFixed(1)} | ${cores(span.machineSeconds)} of ${span.cores} | ${CPU_COLUMNS.map((c) => cores(span.processes[c])).join(' | ')} | ${cores(Math.max(0, span.machineSeconds - named))} |`];
  });
  if (rows.length === 0) return '(not measured)';
  return ['| drain | seconds | machine | store | worker | Kafka | Connect | Postgres | rest |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|', ...rows].join('\n');
}

function profileTable(drains: (readonly [string, StoreProfile[] | undefined])[]): string {
  const rows = drains.flatMap(([drain, profile]) => (profile ?? []).map((p) => `| ${drain} | ${p.operation} | ${p.calls} | ${p.seconds.toFixed(1)} |`));
  return rows.length === 0 ? '(no store timings recorded)' : `| drain | operation | calls | seconds |\n|---|---|---|---|\n${rows.join('\n')}`;
}
