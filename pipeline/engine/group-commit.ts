import type { RowChange } from '../../schemas/change.js';
import type { ApplyStats } from './projector.js';
import type { RoundSizer } from './round-sizer.js';

interface Waiter {
  changes: RowChange[];
  resolve: (stats: ApplyStats) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit across partitions: batches that arrive while the store is busy are applied together
 * in the next round. An order and its lines come from different topics, a customer's orders from
 * many partitions; applied together they become one document write instead of several. Each
 * caller learns when its own changes are durable and only then commits its offsets.
 */
export class GroupCommit {
  private queue: Waiter[] = [];
  private running = false;
  private queuedChanges = 0;
  private roomWaiters: (() => void)[] = [];

  constructor(
    private readonly apply: (changes: RowChange[]) => Promise<ApplyStats>,
    /** A round stops growing at the sizer's limit: bounds its memory and its time. */
    private readonly rounds: RoundSizer,
  ) {}

  /** The most changes the next round takes. */
  get limit(): number {
    return this.rounds.limit;
  }

  /** Changes submitted and not yet taken into a round. */
  get queued(): number {
    return this.queuedChanges;
  }

  /**
   * Resolves once the queue has room for another submission: at most one round in flight and about
   * one round queued, so a consumer that does not wait for durability still holds bounded memory.
   * A waiter that wakes must submit before it yields, or the next one sees the same room.
   */
  async room(): Promise<void> {
    while (this.queuedChanges >= this.rounds.limit) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  submit(changes: RowChange[]): Promise<ApplyStats> {
    return new Promise((resolve, reject) => {
      this.queue.push({ changes, resolve, reject });
      this.queuedChanges += changes.length;
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      let size = 0;
      let take = 0;
      const limit = this.rounds.limit;
      while (take < this.queue.length && (take === 0 || size + (this.queue[take]?.changes.length ?? 0) <= limit)) {
        size += this.queue[take]?.changes.length ?? 0;
        take += 1;
      }
      const round = this.queue.splice(0, take);
      this.queuedChanges -= size;
      for (const wake of this.roomWaiters.splice(0)) wake();
      try {
        const stats = await this.apply(round.flatMap((w) => w.changes));
        for (const w of round) w.resolve(stats);
      } catch (err) {
        for (const w of round) w.reject(err);
      }
      this.rounds.afterRound();
    }
    this.running = false;
  }
}
