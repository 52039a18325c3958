import { RoundHealth } from '../../pipeline/engine/round-health.js';

describe('whether rounds get written', () => {
  test('the oldest failure without a success since is what counts, per partition and for the retry loop', () => {
    let now = 1_000;
    const h = new RoundHealth(() => now);
    expect(h.failingForMs()).toBe(0);

    h.retrying();
    now += 500;
    h.retrying(); // the same round again: still failing since the first
    expect(h.failingForMs()).toBe(500);
    h.settled();
    expect(h.failingForMs()).toBe(0);

    h.partitionFailed('orders/0');
    now += 1_000;
    h.partitionFailed('lines/1');
    h.partitionFailed('orders/0'); // failed again after its pause: since the first time
    now += 1_000;
    expect(h.failingForMs()).toBe(2_000);
    expect(h.failingPartitions()).toEqual(['orders/0', 'lines/1']);
    // Other partitions' rounds being written does not clear a partition that keeps failing.
    h.settled();
    expect(h.failingForMs()).toBe(2_000);
    h.partitionRecovered('orders/0');
    expect(h.failingForMs()).toBe(1_000);
    h.partitionsReassigned();
    expect(h.failingForMs()).toBe(0);
    expect(h.failingPartitions()).toEqual([]);
  });

  test('a round in flight that neither ends nor fails counts as stuck; one retrying an outage does not', () => {
    let now = 0;
    const h = new RoundHealth(() => now);
    expect(h.stuckForMs()).toBe(0);
    h.started();
    now += 10_000;
    expect(h.stuckForMs()).toBe(10_000);
    h.retrying();
    now += 60_000;
    expect(h.stuckForMs()).toBe(0);
    h.settled();
    expect(h.stuckForMs()).toBe(0);
    h.started();
    now += 1;
    h.settled();
    now += 1_000_000;
    expect(h.stuckForMs()).toBe(0);
  });
});
