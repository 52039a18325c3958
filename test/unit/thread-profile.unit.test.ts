import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activeRange, GC, IDLE, profileFromDirectory, profileThisThread, shareOf, summarizeProfile } from '../../pipeline/bench/thread-profile.js';

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 9, columnNumber: 0, scriptId: '1' });

describe("a worker thread's profile", () => {
  test('shares of the span per kind of work, idle and GC apart, and the top functions by self time', () => {
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 4, 5] },
        { id: 2, callFrame: frame('(idle)', '') },
        { id: 3, callFrame: frame('(garbage collector)', '') },
        { id: 4, callFrame: frame('decodeRecord', 'file:///w/node_modules/kafkajs/src/protocol/recordBatch/record/v0/decoder.js') },
        { id: 5, callFrame: frame('parseJson', 'file:///w/dist/schemas/decode-change.js') },
        { id: 6, callFrame: frame('dispatch', '') },
      ],
      startTime: 0,
      endTime: 10_000,
      // Each delta is the time since the sample before: idle 4 ms, GC 1, kafkajs 2 + 1, ours 2.
      // The first runs from the profiler's start to its first tick (its own Profiler.start): not counted.
      samples: [6, 2, 3, 4, 5, 2, 4],
      timeDeltas: [500, 4000, 1000, 2000, 2000, 0, 1000],
    };
    const p = summarizeProfile(profile);
    expect(p.seconds).toBeCloseTo(0.01, 6);
    expect(p.top.map((t) => t.fn)).not.toContain('dispatch');
    // No 100 ms at all, so no window was half busy: the whole span counts.
    expect(p.activeSeconds).toBeCloseTo(0.01, 6);
    expect(p.busy).toBeCloseTo(0.6, 6);
    expect(shareOf(p, IDLE)).toBeCloseTo(0.4, 6);
    expect(shareOf(p, GC)).toBeCloseTo(0.1, 6);
    expect(shareOf(p, 'Kafka client (kafkajs)')).toBeCloseTo(0.3, 6);
    expect(shareOf(p, 'ours: decoding changes (JSON.parse included)')).toBeCloseTo(0.2, 6);
    expect(p.kinds[0]).toEqual({ kind: IDLE, share: expect.closeTo(0.4, 6) });
    // Cut at 7.5 ms (what Profiler.stop spends building its answer comes after the work): the samples at 9.5 and 10.5 ms go.
    const cut = summarizeProfile(profile, { untilSeconds: 0.0075 });
    expect(cut.seconds).toBeCloseTo(0.007, 6);
    expect(shareOf(cut, 'ours: decoding changes (JSON.parse included)')).toBe(0);
    expect(p.top.map((t) => [t.fn, t.where])).toEqual([
      ['decodeRecord', 'kafkajs/src/protocol/recordBatch/record/v0/decoder.js:10'],
      ['parseJson', 'schemas/decode-change.js:10'],
    ]);
  });

  test("start-up's waits and an idle tail fall outside the active part, pauses inside it stay", () => {
    const ms = (n: number, busy: boolean) => Array.from({ length: n }, () => ({ us: 1000, busy }));
    // 3 s joining the group, 1 s of work with a 40 ms pause in it, 0.5 s idle before the exit.
    const points = [...ms(3000, false), ...ms(500, true), ...ms(40, false), ...ms(460, true), ...ms(500, false)];
    const [from, to] = activeRange(points);
    expect(from).toBeGreaterThanOrEqual(2940);
    expect(from).toBeLessThanOrEqual(3000);
    expect(to).toBeGreaterThanOrEqual(4000 - 1);
    expect(to).toBeLessThanOrEqual(4050);
    const idle = points.slice(from, to + 1).filter((p) => !p.busy).length;
    expect(idle).toBeGreaterThanOrEqual(40);
    expect(idle).toBeLessThan(150);
    expect(activeRange(ms(200, false))).toEqual([0, 199]);
  });

  test('input that is not a V8 CPU profile is refused, naming what is wrong', () => {
    expect(() => summarizeProfile({ nodes: [], samples: 'x' })).toThrow(/not a V8 CPU profile: samples/);
  });

  test('reads the profile a process wrote with --cpu-prof, and finds where its thread went', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cdc-profile-test-'));
    try {
      const script = 'function busy() { const until = Date.now() + 400; let x = 0; while (Date.now() < until) x += Math.sqrt(x + 1); return x; } busy();';
      execFileSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '-e', script]);
      const profile = profileFromDirectory(dir);
      expect(profile.seconds).toBeGreaterThan(0.2);
      // A loop that never yields: the thread was busy for most of its active part, in the loop.
      expect(profile.busy).toBeGreaterThan(0.8);
      expect(profile.top[0]?.fn).toBe('busy');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("profiles this thread while the work runs, and passes the work's result or error on", async () => {
    // (How much of a short piece of work V8 samples in a jest worker varies: on starting, its
    // profiler first processes an event for every function compiled so far, and drops samples
    // meanwhile. The bench profiles drains of seconds; the test above checks the sampling.)
    const { result, profile } = await profileThisThread(async () => 42);
    expect(result).toBe(42);
    expect(profile.busy).toBeGreaterThanOrEqual(0);
    expect(profile.busy).toBeLessThanOrEqual(1);
    await expect(profileThisThread(() => Promise.reject(new Error('work failed')))).rejects.toThrow('work failed');
  });
});
