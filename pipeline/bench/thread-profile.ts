import { readdirSync, readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { z } from 'zod';

/**
 * Where a worker's JavaScript thread went during a drain, from V8's sampling profiler: the share
 * of samples per kind of work, and the functions that held the thread longest. A missed
 * throughput target is explained by this, not guessed: a thread busy throughout is the limit,
 * a thread mostly idle waits on something else.
 */
export interface ThreadProfile {
  /** Seconds the profile spans (the sum of its samples' intervals). */
  seconds: number;
  /**
   * Seconds of its active part: from the first 100 ms in which the thread was busy half the time
   * to the last. Start-up's waits (connecting, joining the group) and an idle tail fall outside;
   * every share below is of this part.
   */
  activeSeconds: number;
  /** Share of the active part the thread was not idle (0..1). */
  busy: number;
  /** Share of the active part per kind of work, largest first; idle included. */
  kinds: { kind: string; share: number }[];
  /** The functions with the most self time, idle and GC left out. */
  top: { fn: string; where: string; share: number }[];
}

/** The fields of a V8 `.cpuprofile` (Profiler.stop's answer, or `node --cpu-prof`'s file) this reads. */
const CpuProfile = z.object({
  nodes: z.array(z.looseObject({ id: z.number(), callFrame: z.looseObject({ functionName: z.string(), url: z.string(), lineNumber: z.number() }) })),
  samples: z.array(z.number()),
  timeDeltas: z.array(z.number()),
});
type CpuProfile = z.infer<typeof CpuProfile>;
type CallFrame = CpuProfile['nodes'][number]['callFrame'];

export const IDLE = 'idle';
export const GC = 'garbage collection';

/** Order matters: the first rule whose test matches names the kind. */
const KINDS: [string, (f: CallFrame) => boolean][] = [
  [IDLE, (f) => f.functionName === '(idle)'],
  [GC, (f) => f.functionName === '(garbage collector)'],
  ['V8 itself (compiling, runtime)', (f) => f.functionName === '(program)'],
  ['Kafka client (kafkajs)', (f) => f.url.includes('/node_modules/kafkajs/')],
  ['BSON encoding and decoding', (f) => f.url.includes('/node_modules/bson/')],
  ['MongoDB driver', (f) => f.url.includes('/node_modules/mongodb/')],
  ['validation (zod)', (f) => f.url.includes('/node_modules/zod/')],
  ['logging and metrics', (f) => /\/node_modules\/(pino|prom-client|thread-stream|sonic-boom)/.test(f.url)],
  ['other libraries', (f) => f.url.includes('/node_modules/')],
  ['ours: decoding changes (JSON.parse included)', (f) => /\/dist\/schemas\//.test(f.url)],
  ['ours: engine (rounds, offsets, references)', (f) => /\/dist\/pipeline\/engine\//.test(f.url)],
  ['ours: store layer (state compaction, writes)', (f) => /\/dist\/pipeline\/store\//.test(f.url)],
  ['ours: projections (fold, render)', (f) => /\/dist\/projections\//.test(f.url)],
  ['ours: other', (f) => f.url.includes('/dist/')],
  ['Node runtime (buffers, sockets, timers)', (f) => f.url.startsWith('node:') || f.url === ''],
];

function kindOf(frame: CallFrame): string {
  return KINDS.find(([, test]) => test(frame))?.[0] ?? 'other';
}

/** Summarises a `.cpuprofile`; throws with the first problem when the input is not one. */
export function summarizeProfile(input: unknown, opts: { topN?: number; untilSeconds?: number } = {}): ThreadProfile {
  const topN = opts.topN ?? 10;
  const until = opts.untilSeconds === undefined ? Number.POSITIVE_INFINITY : opts.untilSeconds * 1e6;
  const parsed = CpuProfile.safeParse(input);
  if (!parsed.success) throw new Error(`not a V8 CPU profile: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`);
  const { nodes, samples, timeDeltas } = parsed.data;
  const frames = new Map(nodes.map((n) => [n.id, n.callFrame]));
  // A sample's delta is the time since the one before it: what the thread spent where it is now.
  let at = 0;
  const points = samples.flatMap((id, i) => {
    const frame = frames.get(id);
    const delta = Math.max(0, timeDeltas[i] ?? 0);
    at += delta;
    // The first delta runs from the profiler's start to its first tick, and the thread spent it
    // answering Profiler.start, not where the first sample found it.
    return frame === undefined || i === 0 || at > until ? [] : [{ frame, kind: kindOf(frame), us: delta }];
  });
  const span = points.reduce((sum, p) => sum + p.us, 0);
  const [from, to] = activeRange(points.map((p) => ({ us: p.us, busy: p.kind !== IDLE })));
  const byKind = new Map<string, number>();
  const byFn = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  points.slice(from, to + 1).forEach(({ frame, kind, us }) => {
    total += us;
    byKind.set(kind, (byKind.get(kind) ?? 0) + us);
    if (kind === IDLE || kind === GC) return;
    const where = `${frame.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')}:${frame.lineNumber + 1}`;
    const key = `${frame.functionName}@${where}`;
    const entry = byFn.get(key) ?? { fn: frame.functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    byFn.set(key, entry);
  });
  const share = (us: number) => (total === 0 ? 0 : us / total);
  return {
    seconds: span / 1e6,
    activeSeconds: total / 1e6,
    busy: 1 - share(byKind.get(IDLE) ?? 0),
    kinds: [...byKind].map(([kind, us]) => ({ kind, share: share(us) })).sort((a, b) => b.share - a.share),
    top: [...byFn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map(({ fn, where, us }) => ({ fn, where, share: share(us) })),
  };
}

const WINDOW_US = 100_000;

/**
 * The samples from the first whose next 100 ms were at least half busy to the last whose previous
 * 100 ms were; all of them when no window was.
 */
export function activeRange(points: { us: number; busy: boolean }[]): [number, number] {
  const at: number[] = [];
  let t = 0;
  for (const p of points) at.push((t += p.us));
  /** Busy µs of samples lo..hi, both included (a sample's time ends at its own timestamp). */
  const busyPrefix: number[] = [0];
  points.forEach((p, i) => busyPrefix.push((busyPrefix[i] as number) + (p.busy ? p.us : 0)));
  const busyIn = (lo: number, hi: number) => (busyPrefix[hi + 1] as number) - (busyPrefix[lo] as number);
  let first = -1;
  for (let i = 0, j = 0; i < points.length; i++) {
    while (j + 1 < points.length && (at[j + 1] as number) - (at[i] as number) <= WINDOW_US) j += 1;
    if (busyIn(i, j) * 2 >= WINDOW_US) {
      first = i;
      break;
    }
  }
  if (first === -1) return [0, points.length - 1];
  let last = first;
  for (let j = points.length - 1, i = points.length - 1; j > first; j--) {
    while (i - 1 >= 0 && (at[j] as number) - (at[i - 1] as number) <= WINDOW_US) i -= 1;
    if (busyIn(i, j) * 2 >= WINDOW_US) {
      last = j;
      break;
    }
  }
  return [first, last];
}

/** The largest kinds of work, idle left out: "garbage collection 18%, BSON encoding and decoding 12%, …". */
export function describeKinds(profile: ThreadProfile, n = 5): string {
  return profile.kinds
    .filter((k) => k.kind !== IDLE)
    .slice(0, n)
    .map((k) => `${k.kind} ${Math.round(k.share * 100)}%`)
    .join(', ');
}

/** Share of the active part one kind took (0 when absent). */
export function shareOf(profile: ThreadProfile, kind: string): number {
  return profile.kinds.find((k) => k.kind === kind)?.share ?? 0;
}

/**
 * Profiles this process's main thread while `work` runs (sampling every millisecond), for a
 * worker that runs in the calling process.
 */
export async function profileThisThread<T>(work: () => Promise<T>): Promise<{ result: T; profile: ThreadProfile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 1000 });
    await session.post('Profiler.start');
    const started = performance.now();
    const outcome = await work().then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, err }),
    );
    const seconds = (performance.now() - started) / 1000;
    const { profile } = await session.post('Profiler.stop');
    if (!outcome.ok) throw outcome.err;
    // Profiler.stop builds its answer on this thread while still sampling: not the work's time.
    return { result: outcome.value, profile: summarizeProfile(profile, { untilSeconds: seconds }) };
  } finally {
    session.disconnect();
  }
}

/** The one `.cpuprofile` a process started with `--cpu-prof --cpu-prof-dir=dir` wrote at its exit. */
export function profileFromDirectory(dir: string): ThreadProfile {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length !== 1) throw new Error(`expected one .cpuprofile in ${dir}, found ${files.length}: did the worker exit cleanly?`);
  return summarizeProfile(JSON.parse(readFileSync(join(dir, files[0] as string), 'utf8')) as unknown);
}
