import { OffsetCommits, type CommittedPosition, type PartitionOffset } from '../../pipeline/engine/offset-commits.js';

/** A promise settled by hand, standing for a store round. */
function round(): { promise: Promise<void>; done: () => void; fail: (err: Error) => void } {
  let done: () => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  return { promise, done, fail };
}

const flushed = () => new Promise((r) => setImmediate(r));

function tracker() {
  const commits: PartitionOffset[][] = [];
  const positions: CommittedPosition[] = [];
  const failures: { topic: string; partition: number; fromOffset: string }[] = [];
  const offsets = new OffsetCommits(async (o) => void commits.push(o), {
    committed: (p) => positions.push(p),
    roundFailed: (topic, partition, fromOffset) => failures.push({ topic, partition, fromOffset }),
  });
  return { offsets, commits, positions, failures };
}

describe('offset commits behind pipelined rounds', () => {
  test('a partition commits only over a prefix of durable chunks, whatever order the rounds end in', async () => {
    const { offsets, commits, positions } = tracker();
    const a = round();
    const b = round();
    offsets.track('t', 0, '0', '9', 100, a.promise);
    offsets.track('t', 0, '10', '19', 200, b.promise);
    b.done();
    await flushed();
    expect(commits).toEqual([]);
    a.done();
    await offsets.settled();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '20' }]]);
    expect(positions).toEqual([{ topic: 't', partition: 0, lastOffset: 19, sourceMs: 200 }]);
  });

  test('a failed chunk is never skipped: later durable chunks of its partition stay uncommitted and it is read again from its first offset', async () => {
    const { offsets, commits, failures } = tracker();
    const a = round();
    const b = round();
    const c = round();
    offsets.track('t', 0, '0', '9', 0, a.promise);
    offsets.track('t', 0, '10', '19', 0, b.promise);
    offsets.track('t', 0, '20', '29', 0, c.promise);
    a.done();
    b.fail(new Error('store rejected the round'));
    c.done();
    await offsets.settled();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '10' }]]);
    expect(failures).toEqual([{ topic: 't', partition: 0, fromOffset: '10' }]);
  });

  test('after a failure nothing of the partition commits until it is read again, then the re-read chunks do', async () => {
    const { offsets, commits, failures } = tracker();
    const failed = round();
    offsets.track('t', 0, '0', '9', 0, failed.promise);
    failed.fail(new Error('store rejected the round'));
    await flushed();
    expect(failures).toEqual([{ topic: 't', partition: 0, fromOffset: '0' }]);
    // A chunk of the old position, tracked before the consumer seeks back, must not commit past the failed one.
    offsets.track('t', 0, '10', '19', 0, Promise.resolve());
    await offsets.settled();
    expect(commits).toEqual([]);
    offsets.retry('t', 0);
    offsets.track('t', 0, '0', '19', 0, Promise.resolve());
    await offsets.settled();
    expect(commits).toEqual([[{ topic: 't', partition: 0, offset: '20' }]]);
  });

  test('other partitions keep committing while one has a failed chunk', async () => {
    const { offsets, commits } = tracker();
    const bad = round();
    const good = round();
    offsets.track('t', 0, '0', '9', 0, bad.promise);
    offsets.track('t', 1, '0', '4', 0, good.promise);
    bad.fail(new Error('no'));
    good.done();
    await offsets.settled();
    expect(commits.flat()).toEqual([{ topic: 't', partition: 1, offset: '5' }]);
  });

  test('after a rebalance, chunks tracked before it are not committed even when their rounds succeed', async () => {
    const { offsets, commits } = tracker();
    const before = round();
    offsets.track('t', 0, '0', '9', 0, before.promise);
    offsets.reset();
    const after = round();
    offsets.track('t', 0, '0', '4', 0, after.promise);
    before.done();
    after.done();
    await offsets.settled();
    expect(commits.flat()).toEqual([{ topic: 't', partition: 0, offset: '5' }]);
  });

  test('settled() waits for the rounds in flight and for their commit (shutdown commits what is written)', async () => {
    const { offsets, commits } = tracker();
    const a = round();
    offsets.track('t', 3, '40', '49', 0, a.promise);
    let settled = false;
    const waiting = offsets.settled().then(() => (settled = true));
    await flushed();
    expect(settled).toBe(false);
    a.done();
    await waiting;
    expect(commits).toEqual([[{ topic: 't', partition: 3, offset: '50' }]]);
  });

  test('a failed commit is reported and does not stop later commits', async () => {
    const reported: PartitionOffset[][] = [];
    let calls = 0;
    const committed: PartitionOffset[][] = [];
    const offsets = new OffsetCommits(
      async (o) => {
        calls += 1;
        if (calls === 1) throw new Error('REBALANCE_IN_PROGRESS');
        committed.push(o);
      },
      { commitFailed: (_err, o) => reported.push(o) },
    );
    offsets.track('t', 0, '0', '0', 0, Promise.resolve());
    await offsets.settled();
    offsets.track('t', 0, '1', '1', 0, Promise.resolve());
    await offsets.settled();
    expect(reported).toEqual([[{ topic: 't', partition: 0, offset: '1' }]]);
    expect(committed).toEqual([[{ topic: 't', partition: 0, offset: '2' }]]);
  });
});
