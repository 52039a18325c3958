export interface PartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read (the last applied one plus one), as Kafka commits it. */
  offset: string;
}

/** A partition's applied position once its offset is committed. */
export interface CommittedPosition {
  topic: string;
  partition: number;
  /** The last offset applied. */
  lastOffset: number;
  /** Source commit time (ms) of the newest change applied up to it. */
  sourceMs: number;
}

interface Entry {
  firstOffset: string;
  lastOffset: string;
  sourceMs: number;
  state: 'pending' | 'done' | 'failed';
  error?: unknown;
}

interface PartitionLog {
  topic: string;
  partition: number;
  entries: Entry[];
  /** A chunk failed: nothing more commits until the partition is read again from it (`retry`). */
  blocked: boolean;
}

const keyOf = (topic: string, partition: number) => `${topic}/${partition}`;

/**
 * Commits offsets once the store rounds that cover them are durable, without making the consumer
 * wait for them: kafkajs fetches the next records while the store writes the last ones, so rounds
 * grow and Node's decoding overlaps the store's writing. Per partition the committed offset only
 * moves over a prefix of durable chunks: a partition's chunks may sit in different rounds, and a
 * failed round must never be skipped by a later one that succeeded.
 */
export class OffsetCommits {
  private logs = new Map<string, PartitionLog>();
  private due = new Map<string, { offset: PartitionOffset; position: CommittedPosition }>();
  private unsettled = 0;
  private settledWaiters: (() => void)[] = [];
  private committing: Promise<void> = Promise.resolve();

  constructor(
    private readonly commit: (offsets: PartitionOffset[]) => Promise<void>,
    private readonly hooks: {
      /** Told each partition's position after its commit succeeded. */
      committed?: (position: CommittedPosition) => void;
      /** A commit that failed: the next owner of the partition re-reads (and harmlessly re-applies) from the last commit. */
      commitFailed?: (err: unknown, offsets: PartitionOffset[]) => void;
      /**
       * A chunk's round failed: nothing of the partition from `fromOffset` on will be committed
       * (chunks tracked meanwhile included) until `retry`, after which the consumer must read it
       * again from there.
       */
      roundFailed?: (topic: string, partition: number, fromOffset: string, err: unknown) => void;
    } = {},
  ) {}

  /**
   * A rebalance: kafkajs now reads every assigned partition from its committed offset, so what was
   * tracked before must not be committed any more (another worker may own the partition by now).
   */
  reset(): void {
    this.logs.clear();
    this.due.clear();
  }

  /**
   * Tracks a chunk of a partition, read up to `lastOffset`, that is durable once `durable` resolves.
   * Chunks of a partition must be tracked in offset order.
   */
  track(topic: string, partition: number, firstOffset: string, lastOffset: string, sourceMs: number, durable: Promise<unknown>): void {
    const key = keyOf(topic, partition);
    const log = this.logs.get(key) ?? { topic, partition, entries: [], blocked: false };
    this.logs.set(key, log);
    const entry: Entry = { firstOffset, lastOffset, sourceMs, state: 'pending' };
    log.entries.push(entry);
    this.unsettled += 1;
    durable.then(
      () => this.settle(key, log, entry, 'done'),
      (err: unknown) => this.settle(key, log, entry, 'failed', err),
    );
  }

  /**
   * The consumer reads a blocked partition again from its failed chunk: the chunks tracked from
   * now on start a fresh log, and what the blocked one held is never committed.
   */
  retry(topic: string, partition: number): void {
    const key = keyOf(topic, partition);
    if (this.logs.get(key)?.blocked === true) this.logs.delete(key);
  }

  /** Resolves once every tracked chunk is settled and what they allow is committed (shutdown). */
  async settled(): Promise<void> {
    while (this.unsettled > 0) await new Promise<void>((resolve) => this.settledWaiters.push(resolve));
    await this.committing;
  }

  private settle(key: string, log: PartitionLog, entry: Entry, state: 'done' | 'failed', err?: unknown): void {
    entry.state = state;
    entry.error = err;
    if (this.logs.get(key) === log && !log.blocked) {
      this.advance(key, log);
      const head = log.entries[0];
      if (head?.state === 'failed') {
        // Later chunks may succeed, but committing them would skip this one: block until re-read.
        log.blocked = true;
        this.hooks.roundFailed?.(log.topic, log.partition, head.firstOffset, head.error);
      }
    }
    this.unsettled -= 1;
    if (this.unsettled === 0) for (const wake of this.settledWaiters.splice(0)) wake();
  }

  private advance(key: string, log: PartitionLog): void {
    let last: Entry | undefined;
    let sourceMs = this.due.get(key)?.position.sourceMs ?? 0;
    while (log.entries[0]?.state === 'done') {
      last = log.entries.shift();
      sourceMs = Math.max(sourceMs, last?.sourceMs ?? 0);
    }
    if (last === undefined) return;
    const offset = BigInt(last.lastOffset);
    this.due.set(key, {
      offset: { topic: log.topic, partition: log.partition, offset: (offset + 1n).toString() },
      position: { topic: log.topic, partition: log.partition, lastOffset: Number(offset), sourceMs },
    });
    // Serial commits, each taking everything due by then: one request per round, not per chunk.
    this.committing = this.committing.then(() => this.commitDue());
  }

  private async commitDue(): Promise<void> {
    if (this.due.size === 0) return;
    const due = [...this.due.values()];
    this.due.clear();
    const offsets = due.map((d) => d.offset);
    try {
      await this.commit(offsets);
    } catch (err) {
      this.hooks.commitFailed?.(err, offsets);
      return;
    }
    for (const d of due) this.hooks.committed?.(d.position);
  }
}
