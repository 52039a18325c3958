import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { MongoServerError, type Db } from 'mongodb';
import { PipelineError } from '../errors.js';

export const REPLAYS_COLLECTION = '_replays';

export type ReplayPhase = 'building' | 'switching' | 'done';

/**
 * One document per component: the lease (owner, expiry) and the state a resumed run needs (the
 * generation being built, its consumer group, its phase). `frozenAt` keeps, per generation that
 * stopped being written, the live group's offsets below which it has every change: a rollback
 * catches it up from there.
 */
export interface ReplayDoc {
  _id: string;
  owner: string | null;
  expiresAt: Date;
  generation: number | null;
  /** The generation readers used when this rebuild started (what it switches away from). */
  from: number | null;
  group: string | null;
  /**
   * Where the rebuild starts: every topic's earliest offset, a generation's frozen offsets (rollback),
   * or the row topics' end offsets with an incremental snapshot re-emitting every row.
   */
  start: 'earliest' | 'frozen' | 'snapshot' | null;
  /** The incremental snapshot a `snapshot` rebuild asked for, and whether Debezium finished it. */
  snapshot: { id: string; completed: boolean } | null;
  phase: ReplayPhase | null;
  startedAt: Date | null;
  updatedAt: Date;
  progress: { done: number; total: number; perSecond: number; lag: number } | null;
  /** While building: the offsets (`<topic>|<partition>` → next) below which staged documents are in the store. */
  checkpoint: Record<string, number> | null;
  frozenAt: Record<string, Record<string, number>>;
}

export const LEASE_MS = 30_000;

export function leaseOwner(): string {
  return `${hostname()}:${process.pid}:${randomBytes(2).toString('hex')}`;
}

const DUPLICATE_KEY = 11000;

/** An owner on this host whose process is gone frees its lease at once instead of at expiry. */
function ownerIsDead(owner: string | null): boolean {
  if (owner === null) return true;
  const [host, pid] = owner.split(':');
  if (host !== hostname() || pid === undefined || !/^\d+$/.test(pid)) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * A lease with an owner and an expiry, so two rebuilds of one component never run at once and a
 * crashed owner's lease runs out by itself. Renewed every third of its length.
 */
export class ReplayLease {
  private timer: NodeJS.Timeout | undefined;
  private lost: PipelineError | undefined;

  private constructor(
    private readonly db: Db,
    readonly component: string,
    readonly owner: string,
  ) {}

  static async acquire(db: Db, component: string, owner: string): Promise<ReplayLease> {
    const replays = db.collection<ReplayDoc>(REPLAYS_COLLECTION);
    const now = new Date();
    const expiresAt = new Date(now.getTime() + LEASE_MS);
    try {
      await replays.insertOne({ _id: component, owner, expiresAt, generation: null, from: null, group: null, start: null, phase: null, startedAt: null, updatedAt: now, progress: null, checkpoint: null, snapshot: null, frozenAt: {} });
    } catch (err) {
      if (!(err instanceof MongoServerError && err.code === DUPLICATE_KEY)) throw err;
      const held = await replays.findOne({ _id: component });
      const free = held === null || held.expiresAt.getTime() < now.getTime() || ownerIsDead(held.owner);
      // Compare-and-set on the holder seen: of two runs taking an expired lease, one wins.
      const taken = free && held !== null && (await replays.updateOne({ _id: component, owner: held.owner, expiresAt: held.expiresAt }, { $set: { owner, expiresAt, updatedAt: now } })).modifiedCount === 1;
      if (!taken) {
        const holder = held ?? (await replays.findOne({ _id: component }));
        throw new PipelineError('REPLAY_IN_PROGRESS', `a rebuild of ${component} is already running (owner ${holder?.owner ?? '?'}, lease until ${holder?.expiresAt.toISOString() ?? '?'})`, {
          hint: 'wait for it (cdc replay status), or stop that process; a crashed owner\'s lease expires by itself and the next run resumes',
        });
      }
    }
    const lease = new ReplayLease(db, component, owner);
    lease.timer = setInterval(() => void lease.renew(), LEASE_MS / 3);
    lease.timer.unref();
    return lease;
  }

  private async renew(): Promise<void> {
    const r = await this.db
      .collection<ReplayDoc>(REPLAYS_COLLECTION)
      .updateOne({ _id: this.component, owner: this.owner }, { $set: { expiresAt: new Date(Date.now() + LEASE_MS) } })
      .catch(() => undefined);
    if (r !== undefined && r.matchedCount === 0) {
      this.lost = new PipelineError('REPLAY_LEASE_LOST', `the lease on ${this.component} was taken by another process`, { hint: 'this run stops; the other run carries on, or the next cdc replay resumes' });
    }
  }

  /** Throws once another process took the lease: call before every step that changes shared state. */
  check(): void {
    if (this.lost !== undefined) throw this.lost;
  }

  async state(): Promise<ReplayDoc> {
    const doc = await this.db.collection<ReplayDoc>(REPLAYS_COLLECTION).findOne({ _id: this.component });
    if (doc === null) throw new PipelineError('REPLAY_LEASE_LOST', `the replay state of ${this.component} disappeared`, { hint: 'run cdc replay again' });
    return doc;
  }

  /** Updates the state, only while this process holds the lease. */
  async update(fields: Partial<Omit<ReplayDoc, '_id' | 'owner'>>): Promise<void> {
    this.check();
    const r = await this.db.collection<ReplayDoc>(REPLAYS_COLLECTION).updateOne({ _id: this.component, owner: this.owner }, { $set: { ...fields, updatedAt: new Date() } });
    if (r.matchedCount === 0) throw new PipelineError('REPLAY_LEASE_LOST', `the lease on ${this.component} was taken by another process`, { hint: 'this run stops; the other run carries on, or the next cdc replay resumes' });
  }

  async release(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.db.collection<ReplayDoc>(REPLAYS_COLLECTION).updateOne({ _id: this.component, owner: this.owner }, { $set: { owner: null, expiresAt: new Date(), updatedAt: new Date() } });
  }
}

export async function readReplay(db: Db, component: string): Promise<ReplayDoc | null> {
  return db.collection<ReplayDoc>(REPLAYS_COLLECTION).findOne({ _id: component });
}
