import { PipelineError } from '../../pipeline/errors.js';
import { GroupCommit } from '../../pipeline/engine/group-commit.js';
import { fixedRounds, MemoryBudgetRounds } from '../../pipeline/engine/round-sizer.js';
import { isRetriable, withRetry } from '../../pipeline/engine/retry.js';
import type { RowChange } from '../../schemas/change.js';

const change = (id: number): RowChange => ({ table: 'orders', id: String(id), op: 'upsert', row: { id }, before: null, unavailable: [], position: id, txId: null, sourceTsMs: 0, snapshot: false });

describe('retrying store failures', () => {
  test('a retriable failure is retried until it succeeds, with a call between attempts', async () => {
    let calls = 0;
    const between: number[] = [];
    const result = await withRetry(
      async () => {
        calls += 1;
        if (calls < 3) throw new PipelineError('STORE_WRITE_FAILED', 'store down', { retriable: true });
        return 'written';
      },
      { initialMs: 1, maxMs: 2, beforeRetry: async (attempt) => void between.push(attempt) },
    );
    expect(result).toBe('written');
    expect(calls).toBe(3);
    expect(between).toEqual([1, 2]);
  });

  test('a failure that is not retriable is thrown at once', async () => {
    let calls = 0;
    const failing = withRetry(async () => {
      calls += 1;
      throw new PipelineError('EVENT_INVALID', 'bad');
    });
    await expect(failing).rejects.toThrow('bad');
    expect(calls).toBe(1);
    expect(isRetriable(new Error('x'))).toBe(false);
  });

  test('retrying stops when the worker is stopping, so nothing is committed past the failure', async () => {
    let stopping = false;
    const failing = withRetry(
      async () => {
        stopping = true;
        throw new PipelineError('STORE_WRITE_FAILED', 'store down', { retriable: true });
      },
      { initialMs: 1, shouldStop: () => stopping },
    );
    await expect(failing).rejects.toThrow('store down');
  });
});

describe('group commit', () => {

  test('batches submitted while a round runs are applied together in the next round', async () => {
    const rounds: number[][] = [];
    let release: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (release = resolve));
    const group = new GroupCommit(async (changes) => {
      rounds.push(changes.map((c) => Number(c.id)));
      if (rounds.length === 1) await first;
      return { changes: changes.length, written: {}, conflicts: 0, fannedOut: 0, changesByProjection: {} };
    }, fixedRounds(100));
    const a = group.submit([change(1)]);
    await new Promise((r) => setImmediate(r));
    const b = group.submit([change(2)]);
    const c = group.submit([change(3), change(4)]);
    release();
    await Promise.all([a, b, c]);
    expect(rounds).toEqual([[1], [2, 3, 4]]);
  });

  test('a failed round fails every batch in it, so none of them commits', async () => {
    const group = new GroupCommit(async () => {
      throw new Error('store down');
    }, fixedRounds(100));
    await expect(Promise.all([group.submit([change(1)]), group.submit([change(2)])])).rejects.toThrow('store down');
  });

  test('a round stops growing at its size limit', async () => {
    const sizes: number[] = [];
    let release: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (release = resolve));
    const group = new GroupCommit(async (changes) => {
      sizes.push(changes.length);
      if (sizes.length === 1) await first;
      return { changes: changes.length, written: {}, conflicts: 0, fannedOut: 0, changesByProjection: {} };
    }, fixedRounds(3));
    const pending = [group.submit([change(0)])];
    await new Promise((r) => setImmediate(r));
    for (let i = 1; i <= 5; i++) pending.push(group.submit([change(i)]));
    release();
    await Promise.all(pending);
    expect(sizes).toEqual([1, 3, 2]);
  });

  test('room() holds a submitter while a round is queued, and lets it go once that round starts', async () => {
    let release: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (release = resolve));
    let rounds = 0;
    const group = new GroupCommit(async (changes) => {
      rounds += 1;
      if (rounds === 1) await first;
      return { changes: changes.length, written: {}, conflicts: 0, fannedOut: 0, changesByProjection: {} };
    }, fixedRounds(2));
    const applied = [group.submit([change(1), change(2)])];
    await new Promise((r) => setImmediate(r));
    applied.push(group.submit([change(3), change(4)]));
    expect(group.queued).toBe(2);
    let admitted = false;
    const waiting = group.room().then(() => (admitted = true));
    await new Promise((r) => setImmediate(r));
    expect(admitted).toBe(false);
    release();
    await waiting;
    expect(group.queued).toBe(0);
    await Promise.all(applied);
  });
});

describe('rounds under a memory budget', () => {
  test('the limit halves above 90% pressure, grows by a quarter under 75%, within its bounds', () => {
    let rss = 0;
    let heapUsed = 0;
    const rounds = new MemoryBudgetRounds({ budgetBytes: 1000, maxRoundChanges: 10_000, minRoundChanges: 500, memory: () => ({ rss, heapUsed, heapLimit: 100 }) });
    expect(rounds.limit).toBe(2000);
    rss = 950;
    rounds.afterRound();
    expect(rounds.limit).toBe(1000);
    rounds.afterRound();
    rounds.afterRound();
    expect(rounds.limit).toBe(500); // never below the floor
    rss = 800; // between the two thresholds: held
    rounds.afterRound();
    expect(rounds.limit).toBe(500);
    rss = 100;
    for (let i = 0; i < 40; i++) rounds.afterRound();
    expect(rounds.limit).toBe(10_000); // never above the throughput setting
    heapUsed = 95; // a capped heap filling up counts even when the resident set looks fine
    rounds.afterRound();
    expect(rounds.limit).toBe(5000);
  });

  test('a round is formed at the limit in force when it starts, and backpressure follows it', async () => {
    let limit = 2;
    const sizes: number[] = [];
    const group = new GroupCommit(async (changes) => {
      sizes.push(changes.length);
      return { changes: changes.length, written: {}, conflicts: 0, fannedOut: 0, changesByProjection: {} };
    }, { get limit() { return limit; }, afterRound: () => (limit = 4) });
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((i) => group.submit([change(i)])));
    expect(sizes).toEqual([2, 4, 1]);
    expect(group.limit).toBe(4);
  });
});
