import type { Db } from 'mongodb';
import type { Logger } from '../logger.js';

/** One partition's applied position, as `cdc status` reads it. */
export interface ProgressDoc {
  _id: string;
  group: string;
  topic: string;
  partition: number;
  /** The last offset applied and committed. */
  offset: number;
  /** Source commit time (ms) of the newest change applied from this partition. */
  sourceMs: number;
  at: Date;
}

export const PROGRESS_COLLECTION = '_progress';

/** Told the position of every applied (or skipped) record, after its offset is committed. */
export interface ProgressSink {
  note(topic: string, partition: number, offset: number, sourceMs: number): void;
  close(): Promise<void>;
}

/**
 * Records how far each partition has been applied, in source time, so `cdc status` can give lag in
 * seconds without asking every worker. Kept in memory and flushed once a second: one small bulk
 * write, off the hot path. Values only grow ($max), so workers sharing a partition across a
 * rebalance cannot move it back.
 */
export class ProgressRecorder implements ProgressSink {
  private pending = new Map<string, { topic: string; partition: number; offset: number; sourceMs: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly group: string,
    private readonly log: Logger,
    flushMs = 1000,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  note(topic: string, partition: number, offset: number, sourceMs: number): void {
    const key = `${topic}/${partition}`;
    const held = this.pending.get(key);
    this.pending.set(key, { topic, partition, offset: Math.max(offset, held?.offset ?? -1), sourceMs: Math.max(sourceMs, held?.sourceMs ?? 0) });
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    const ops = batch.map((p) => ({
      updateOne: {
        filter: { _id: `${this.group}|${p.topic}|${p.partition}` },
        update: { $set: { group: this.group, topic: p.topic, partition: p.partition, at: new Date() }, $max: { offset: p.offset, sourceMs: p.sourceMs } },
        upsert: true,
      },
    }));
    await this.db
      .collection<ProgressDoc>(PROGRESS_COLLECTION)
      .bulkWrite(ops, { ordered: false })
      .catch((err: unknown) => this.log.debug({ err: String(err), event: 'progress_write_failed' }, 'progress not recorded (status will lag behind)'));
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.flush();
  }
}
