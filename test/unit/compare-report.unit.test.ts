import { medianBy, storeProfileFromMetrics, type CompareReport } from '../../pipeline/bench/compare-bench.js';
import { chartSvg, markdownReport, targets } from '../../pipeline/bench/compare-report.js';

const cpu = (store: number, worker?: number) => ({ wallSeconds: 10, cores: 2, machineSeconds: 18, processes: { store, kafka: 2, connect: 1, postgres: 0.5, ...(worker === undefined ? {} : { worker }) } });
const run = (rate: number) => ({ records: 1000, seconds: 1000 / rate, rate, series: [[0, 0], [0.5, 400], [1, 1000]] as [number, number][] });

function report(overrides: Partial<CompareReport> = {}): CompareReport {
  return {
    at: '2026-11-26T00:00:00.000Z',
    options: { changes: 1, inserts: 1, freshnessSeconds: 1, capacitySeconds: 1, rssEvents: 0, rssBudgets: [], pairs: 3 },
    cClient: 10_000,
    cClientSteady: 40_000,
    cStore: 4_000,
    cStoreFinalDocs: 9_000,
    w1: [
      { workload: 'mix', records: 1000, ours: run(4000), sink: run(1000), oursRates: [3900, 4000, 4200], sinkRates: [1000, 1500, 800], ratio: 4, compared: 10, differences: 0, firstDifferences: [], profile: [], oursCpu: cpu(9, 5), sinkCpu: cpu(6) },
      { workload: 'inserts', records: 1000, ours: run(900), sink: run(1000), oursRates: [900, 950, 850], sinkRates: [1000, 1000, 1000], ratio: 0.9, compared: 10, differences: 0, firstDifferences: [], profile: [], oursCpu: cpu(9, 5), sinkCpu: cpu(6) },
    ],
    w2: { ...run(1500), peakRssMiB: 200, profile: [{ operation: 'cas order_views', calls: 12, seconds: 3.5 }], cpu: cpu(10, 6) },
    freshness: { capacity: 1500, capacityUpdates: 1500, targetRate: 750, achievedRate: 750, samples: 3, p50Ms: 40, p95Ms: 90, p99Ms: 120, maxMs: 130, delaysMs: [40, 90, 130], stages: { source: { p50Ms: 5, p99Ms: 20 }, debezium: { p50Ms: 50, p99Ms: 100 }, worker: { p50Ms: 200, p99Ms: 900 } } },
    ...overrides,
  };
}

describe('bench compare report', () => {
  test('each target says what was reached and whether it was met', () => {
    const t = new Map(targets(report()).map((x) => [x.what, x]));
    expect(t.get('W1 vs sink connector, change mix')).toMatchObject({ met: true, reached: expect.stringContaining('4.00×') });
    expect(t.get('W1 vs sink connector, inserts only')).toMatchObject({ met: false });
    expect(t.get('W1 vs min(C_client, C_store)')).toMatchObject({ met: true, reached: expect.stringContaining('1.00×') });
    expect(t.get('W2 vs W1 (change mix)')).toMatchObject({ met: false });
    expect(t.get('end-to-end p99 at half capacity')).toMatchObject({ met: true, reached: '120 ms' });
    expect(t.get('worker peak RSS (W2 drain)')).toMatchObject({ met: true });
  });

  test('W1 and the sink are reported by their median runs, with every run listed', () => {
    expect(medianBy([{ r: 9 }, { r: 3 }, { r: 5 }], (x) => x.r)).toEqual({ r: 5 });
    expect(medianBy([{ r: 9 }, { r: 3 }, { r: 5 }, { r: 4 }], (x) => x.r)).toEqual({ r: 4 });
    expect(medianBy([{ r: 7 }], (x) => x.r)).toEqual({ r: 7 });
    expect(markdownReport(report(), 'c.svg')).toContain('| mix | 1,000 | 4000 | 1000 | 4.00× | 3900, 4000, 4200 / 1000, 1500, 800 | 0 / 10 |');
  });

  test("each drain's CPU is shown per process, in cores, with what the named ones leave to the rest", () => {
    const md = markdownReport(report(), 'c.svg');
    expect(md).toContain("| W1 ours, mix (the worker: the bench's process) | 10.0 | 1.80 of 2 | 0.90 | 0.50 | 0.20 | 0.10 | 0.05 | 0.05 |");
    expect(md).toContain('| sink connector, mix (in Connect) | 10.0 | 1.80 of 2 | 0.60 | - | 0.20 | 0.10 | 0.05 | 0.85 |');
    expect(md).toContain('| W2 (the worker: its own process) | 10.0 | 1.80 of 2 | 1.00 | 0.60 |');
  });

  test("the store profile is read from a worker's /metrics and shown per drain", () => {
    const text = [
      '# HELP cdc_store_operation_seconds x',
      'cdc_store_operation_seconds_bucket{le="0.1",operation="cas order_views"} 3',
      'cdc_store_operation_seconds_sum{operation="cas order_views"} 12.34',
      'cdc_store_operation_seconds_count{operation="cas order_views"} 40',
      'cdc_store_operation_seconds_sum{operation="fetch order_views"} 2.01',
      'cdc_store_operation_seconds_count{operation="fetch order_views"} 40',
    ].join('\n');
    expect(storeProfileFromMetrics(text)).toEqual([
      { operation: 'cas order_views', calls: 40, seconds: 12.3 },
      { operation: 'fetch order_views', calls: 40, seconds: 2 },
    ]);
    expect(markdownReport(report(), 'c.svg')).toContain('| W2 | cas order_views | 12 | 3.5 |');
  });

  test('the large-backlog RSS runs are targets of their own, and have their own table', () => {
    const rss = [
      { label: '--memory-mib 256', memoryMiB: 256, records: 1_000_000, seconds: 1000, rate: 1000, peakRssMiB: 240 },
      { label: 'default', memoryMiB: null, records: 1_000_000, seconds: 500, rate: 2000, peakRssMiB: 700 },
    ];
    const t = targets(report({ rss })).filter((x) => x.what.includes('1,000,000-event backlog'));
    expect(t.map((x) => [x.what, x.met])).toEqual([
      ['worker peak RSS, 1,000,000-event backlog, --memory-mib 256', true],
      ['worker peak RSS, 1,000,000-event backlog, default', false],
    ]);
    expect(markdownReport(report({ rss }), 'c.svg')).toContain('| --memory-mib 256 | 1,000,000 | 1000 | 1000 | 240 |');
    expect(markdownReport(report(), 'c.svg')).not.toContain('Worker memory on a large backlog');
  });

  test('a sink that did not finish is never counted as beaten, and differing outputs fail', () => {
    const failed = report({ w1: [{ workload: 'mix', records: 1000, ours: run(4000), sink: { records: 1000, seconds: Infinity, rate: 0, series: [] }, oursRates: [4000], sinkRates: [0], ratio: Infinity, sinkError: 'AssertionError', compared: 10, differences: 3, firstDifferences: ['1: ours {} sink null'], profile: [], oursCpu: cpu(9, 5), sinkCpu: cpu(6) }] });
    const t = new Map(targets(failed).map((x) => [x.what, x]));
    expect(t.get('W1 vs sink connector, change mix')).toMatchObject({ met: false, reached: expect.stringContaining('did not finish (AssertionError)') });
    expect(t.get('W1 and sink outputs equal')).toMatchObject({ met: false });
    expect(markdownReport(failed, 'c.svg')).toContain('1: ours {} sink null');
  });

  test('the report says where the freshness delay went, stage by stage', () => {
    const md = markdownReport(report(), 'c.svg');
    expect(md).toContain('intended time to the Postgres commit,\n5 / 20 ms');
    expect(md).toContain('the worker, record to applied, 200 / 900 ms');
  });

  test("a missed target says why, from the run's own CPU and thread profiles", () => {
    const thread = (busy: number) => ({
      seconds: 6,
      activeSeconds: 5,
      busy,
      kinds: [
        { kind: 'garbage collection', share: 0.2 },
        { kind: 'Kafka client (kafkajs)', share: 0.15 },
        { kind: 'BSON encoding and decoding', share: 0.1 },
        { kind: 'idle', share: 1 - busy },
      ],
      top: [{ fn: 'parseJson', where: 'schemas/decode-change.js:3', share: 0.05 }],
    });
    const slow = (busy: number) => {
      const base = report();
      const [mix, inserts] = base.w1 as [CompareReport['w1'][number], CompareReport['w1'][number]];
      return report({ w1: [{ ...mix, ratio: 1.5, profiled: { rate: 3800, thread: thread(busy) } }, inserts], w2: { ...base.w2, peakRssMiB: 400, thread: thread(0.8) } });
    };
    const t = new Map(targets(slow(0.97)).map((x) => [x.what, x]));
    expect(t.get('W1 vs sink connector, change mix')?.why).toContain("W1 is bound by the worker's one thread");
    expect(t.get('W1 vs sink connector, change mix')?.why).toContain('was busy 97% of the time');
    expect(t.get('W1 vs sink connector, change mix')?.why).toContain('Connect 0.10 of a core');
    expect(t.get('W2 vs W1 (change mix)')?.why).toContain('1.80 of its 2 cores (store 1.00, worker 0.60): it had no idle core');
    expect(t.get('worker peak RSS (W2 drain)')?.why).toContain('rounds of up to 80,000 changes');
    expect(t.get('W1 vs min(C_client, C_store)')?.why).toMatch(/^The same limit as against the sink connector, above\. C_client only fetches and parses.*the Kafka client and decoding took 15% of it, BSON and the MongoDB driver 10%, garbage collection 20%\.$/);
    expect(targets(slow(0.5)).find((x) => x.what.startsWith('W1 vs sink'))?.why).toContain('the thread waited 50% of the time');
    const md = markdownReport(slow(0.97), 'c.svg');
    expect(md).toContain('### Why the missed ones are missed');
    expect(md).toContain('- **worker peak RSS (W2 drain).**');
    expect(md).toContain('| kind of work | W1 mix (3800 events/s) | W2 (start to exit) |');
    expect(md).toContain('| garbage collection | 20% | 20% |');
    expect(md).toContain('`parseJson` (schemas/decode-change.js:3) 5.0%');
    // Met targets need no explanation, and a report without profiles has no thread section.
    expect(markdownReport(report(), 'c.svg')).not.toContain("Where the worker's thread went");
    expect(markdownReport(report(), 'c.svg')).not.toContain('- **W1 vs sink connector, change mix.**');
  });

  test('the chart is an SVG with a line per contender and the latency distribution', () => {
    const svg = chartSvg(report());
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(6);
    expect(svg).toContain('sink connector (mix)');
  });
});
