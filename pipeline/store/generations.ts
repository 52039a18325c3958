import { MongoServerError, type Db } from 'mongodb';
import type { Projection } from '../../projections/types.js';
import { PipelineError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * Generations: every collection a set of projections writes exists once per generation, and a
 * pointer document per component says which generation readers and live workers use. A rebuild
 * fills a new generation while the active one keeps serving, then moves the pointer in one write.
 * docs/ARCHITECTURE.md ("Rebuilds") argues the hand-over.
 */

/** The pointers, one per component, and the generation counter. */
export const GENERATIONS_COLLECTION = '_generations';
/** Which generation each live worker writes (so a rebuild knows when all have moved). */
export const WORKERS_COLLECTION = '_workers';

const COUNTER_ID = '#counter';

/**
 * Projections that must be rebuilt and switched together: one derives from the other (a derived
 * slot is guarded by the source document's revision, which only means something inside one
 * generation) or both embed the same table (they share `_ref_<table>`).
 */
export interface Component {
  /** Stable name: its projections, sorted, joined by "+". */
  key: string;
  projections: Projection[];
  /** Logical names of every collection the component writes. */
  collections: string[];
}

export function componentsOf(projections: readonly Projection[]): Component[] {
  const parent = new Map(projections.map((p) => [p.name, p.name]));
  const find = (n: string): string => {
    const up = parent.get(n) ?? n;
    return up === n ? n : find(up);
  };
  const union = (a: string, b: string) => {
    if (parent.has(a) && parent.has(b)) parent.set(find(a), find(b));
  };
  for (const p of projections) for (const from of p.derivedFrom) union(p.name, from);
  for (const p of projections) for (const q of projections) if (Object.keys(p.references).some((t) => t in q.references)) union(p.name, q.name);
  const groups = new Map<string, Projection[]>();
  for (const p of projections) groups.set(find(p.name), [...(groups.get(find(p.name)) ?? []), p]);
  return [...groups.values()].map((members) => ({
    key: members.map((p) => p.name).sort().join('+'),
    projections: members,
    collections: [
      ...new Set(members.flatMap((p) => [p.collection, `_refidx_${p.collection}`, ...Object.keys(p.references).map((t) => `_ref_${t}`)])),
    ],
  }));
}

export function componentOf(projections: readonly Projection[], name: string): Component {
  const found = componentsOf(projections).find((c) => c.projections.some((p) => p.name === name));
  if (found === undefined) throw new PipelineError('CLI_USAGE', `unknown projection "${name}"`, { hint: `known: ${projections.map((p) => p.name).join(', ')}` });
  return found;
}

/** Generation 0 is the bare name, so stores written before generations existed stay readable. */
export function physicalName(logical: string, generation: number): string {
  return generation === 0 ? logical : `${logical}__g${generation}`;
}

export interface PointerDoc {
  _id: string;
  active: number;
  /** The generation before the last switch: what `replay --rollback` returns to (null once dropped). */
  previous: number | null;
  switchedAt: Date;
}

export interface WorkerReport {
  _id: string;
  group: string;
  generations: Record<string, number>;
  at: Date;
}

export async function readPointer(db: Db, component: string): Promise<PointerDoc | null> {
  return db.collection<PointerDoc>(GENERATIONS_COLLECTION).findOne({ _id: component });
}

/** The one write that moves readers and live workers to another generation. */
export async function setPointer(db: Db, component: string, active: number, previous: number | null): Promise<void> {
  await db.collection<PointerDoc>(GENERATIONS_COLLECTION).updateOne({ _id: component }, { $set: { active, previous, switchedAt: new Date() } }, { upsert: true });
}

/** A generation number never used before in this database (so `_ref_` collections never clash). */
export async function allocateGeneration(db: Db): Promise<number> {
  const counters = db.collection<{ _id: string; seq: number }>(GENERATIONS_COLLECTION);
  const pointers = await db.collection<PointerDoc>(GENERATIONS_COLLECTION).find({ _id: { $ne: COUNTER_ID } }).toArray();
  const floor = Math.max(0, ...pointers.flatMap((p) => [p.active, p.previous ?? 0]));
  for (let attempt = 0; attempt < 5; attempt++) {
    const held = await counters.findOne({ _id: COUNTER_ID });
    const next = Math.max(held?.seq ?? 0, floor) + 1;
    try {
      if (held === null) await counters.insertOne({ _id: COUNTER_ID, seq: next });
      else {
        const moved = await counters.updateOne({ _id: COUNTER_ID, seq: held.seq }, { $set: { seq: next } });
        if (moved.modifiedCount === 0) continue;
      }
      return next;
    } catch (err) {
      if (err instanceof MongoServerError && err.code === 11000) continue;
      throw err;
    }
  }
  throw new PipelineError('STORE_WRITE_FAILED', 'could not allocate a generation number (kept racing another writer)', { retriable: true, hint: 'run the command again' });
}

/**
 * The generation each logical collection resolves to, for one process. Workers refresh it at the
 * start of every store round (one small read per round, not per event) and report what they
 * adopted; readers refresh it at most once per `maxAgeMs`.
 */
export class Namespace {
  private readonly owner = new Map<string, string>();
  private active = new Map<string, number>();
  private readAt = 0;

  constructor(
    private readonly db: Db,
    readonly components: Component[],
    private readonly reporter?: { workerId: string; group: string; log: Logger },
    /** A rebuild writes its own generation whatever the pointer says. */
    private readonly pinned?: number,
  ) {
    for (const c of components) for (const name of c.collections) this.owner.set(name, c.key);
    if (pinned !== undefined) this.active = new Map(components.map((c) => [c.key, pinned]));
  }

  generation(component: string): number {
    return this.active.get(component) ?? 0;
  }

  /** The physical collection for a logical one (collections outside every component keep their name). */
  physical(logical: string): string {
    const component = this.owner.get(logical);
    return component === undefined ? logical : physicalName(logical, this.generation(component));
  }

  /** Reads the pointers; true when some component moved. Reports the adopted generations. */
  async refresh(maxAgeMs = 0): Promise<boolean> {
    if (this.pinned !== undefined || (maxAgeMs > 0 && Date.now() - this.readAt < maxAgeMs)) return false;
    const pointers = await this.db
      .collection<PointerDoc>(GENERATIONS_COLLECTION)
      .find({ _id: { $in: this.components.map((c) => c.key) } })
      .toArray()
      .catch((cause: unknown) => {
        throw new PipelineError('STORE_WRITE_FAILED', 'reading the generation pointers failed', { cause, retriable: true, hint: 'the worker retries with backoff; check the store (cdc stack status)' });
      });
    this.readAt = Date.now();
    const next = new Map(this.components.map((c) => [c.key, pointers.find((p) => p._id === c.key)?.active ?? 0]));
    const moved = [...next].some(([k, g]) => this.active.get(k) !== g);
    const first = this.active.size === 0;
    this.active = next;
    if ((moved || first) && this.reporter !== undefined) {
      const { workerId, group, log } = this.reporter;
      await this.db
        .collection<WorkerReport>(WORKERS_COLLECTION)
        .updateOne({ _id: workerId }, { $set: { group, generations: Object.fromEntries(next), at: new Date() } }, { upsert: true });
      if (!first) log.info({ generations: Object.fromEntries(next), event: 'generation_adopted' }, 'writing to the switched generation');
    }
    return moved && !first;
  }
}
