import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from 'mongodb';
import { PROJECTIONS } from '../../projections/registry.js';
import type { Projection } from '../../projections/types.js';
import { sourceNames } from '../engine/projector.js';
import type { ProgressSink } from '../engine/progress.js';
import { randomUUID } from 'node:crypto';
import { notificationTopic } from '../../connectors/apply.js';
import { isEventTopic } from '../../schemas/events/registry.js';
import { SHOP_TABLES } from '../../schemas/shop-rows.js';
import { loadSettings } from '../config.js';
import { PipelineError } from '../errors.js';
import { createKafka } from '../kafka/client.js';
import { superuserClient } from '../postgres/clients.js';
import { requestSnapshot, SnapshotWatcher } from './incremental-snapshot.js';
import type { Admin } from '../kafka/client.js';
import type { Logger } from '../logger.js';
import { allocateGeneration, componentOf, physicalName, readPointer, setPointer, WORKERS_COLLECTION, type Component, type WorkerReport } from '../store/generations.js';
import { projectorInputs, runWorker } from '../worker/run-worker.js';
import type { ProgressDisplay, ProgressFigures } from './progress-display.js';
import { leaseOwner, readReplay, ReplayLease, type ReplayDoc } from './replay-lease.js';

/** Offsets per `<topic>|<partition>`: the next offset to read. */
export type Offsets = Record<string, number>;

export interface ReplayTarget {
  projection: string;
  topicPrefix: string;
  schema: string;
  /** The live workers' consumer group: its members must move to the new generation. */
  liveGroup: string;
  mongoDatabase: string;
  projections?: readonly Projection[];
  /**
   * 'topics' (default): every source topic from its earliest offset. 'snapshot': the row topics
   * from their end, with a Debezium incremental snapshot re-emitting every row; for topics whose
   * history was compacted or expired. Event topics are always read from the start (no snapshot
   * can re-create events).
   */
  source?: 'topics' | 'snapshot';
}

export interface ReplayRun {
  db: Db;
  admin: Admin;
  log: Logger;
  display: ProgressDisplay;
  /** Aborted on Ctrl-C or SIGTERM: the rebuild stops, commits what it wrote and can be resumed. */
  signal: AbortSignal;
  /** Start a new generation even when an unfinished one could be resumed. */
  restart?: boolean;
  /** Hand over when no more than this many events remain (the tail is read after the switch). */
  catchUpLag?: number;
  /** How long live workers get to move to the new generation. */
  adoptTimeoutMs?: number;
  /** Engine knobs for the rebuild's worker. */
  maxRoundChanges?: number;
  /** Documents held in memory before a flush and checkpoint (default 100,000). */
  stagingBudget?: number;
}

export interface ReplayResult {
  component: string;
  generation: number;
  previous: number;
  events: number;
  seconds: number;
  perSecond: number;
  resumed: boolean;
  outcome: 'switched' | 'interrupted';
  /** Store time per operation (calls, ms, documents): where the rebuild's time went. */
  storeTimings: Map<string, { count: number; ms: number; docs: number }>;
}

const key = (topic: string, partition: number) => `${topic}|${partition}`;

/** Where the rebuild's worker has got to: the next offset of every partition it applied. */
class AppliedOffsets implements ProgressSink {
  readonly next = new Map<string, number>();
  constructor(start: Offsets) {
    for (const [k, o] of Object.entries(start)) this.next.set(k, o);
  }
  note(topic: string, partition: number, offset: number): void {
    const k = key(topic, partition);
    this.next.set(k, Math.max(this.next.get(k) ?? 0, offset + 1));
  }
  async close(): Promise<void> {}
}

async function endOffsets(admin: Admin, topics: string[]): Promise<{ high: Offsets; low: Offsets }> {
  const high: Offsets = {};
  const low: Offsets = {};
  // A retry topic exists once a live worker ran; before that it holds nothing to rebuild from.
  const existing = new Set(await admin.listTopics());
  for (const topic of topics.filter((t) => existing.has(t))) {
    for (const p of await admin.fetchTopicOffsets(topic)) {
      high[key(topic, p.partition)] = Number(p.high);
      low[key(topic, p.partition)] = Number(p.low);
    }
  }
  return { high, low };
}

/** A group's committed offsets (the next offset to read; absent where it never committed). */
export async function committedOffsets(admin: Admin, groupId: string, topics: string[]): Promise<Offsets> {
  const out: Offsets = {};
  for (const t of await admin.fetchOffsets({ groupId, topics })) {
    for (const p of t.partitions) if (Number(p.offset) >= 0) out[key(t.topic, p.partition)] = Number(p.offset);
  }
  return out;
}

function figures(applied: AppliedOffsets, high: Offsets, low: Offsets, started: Offsets): { done: number; total: number; lag: number } {
  let done = 0;
  let total = 0;
  let lag = 0;
  for (const [k, h] of Object.entries(high)) {
    const l = low[k] ?? 0;
    const from = Math.max(l, started[k] ?? l);
    const at = Math.max(from, applied.next.get(k) ?? from);
    total += h - from;
    done += at - from;
    lag += Math.max(0, h - at);
  }
  return { done, total, lag };
}

/** Every physical collection of one generation of a component. */
export function generationCollections(component: Component, generation: number): string[] {
  return component.collections.map((c) => physicalName(c, generation));
}

export async function dropGeneration(db: Db, component: Component, generation: number): Promise<void> {
  const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
  for (const name of generationCollections(component, generation)) if (existing.has(name)) await db.collection(name).drop();
}

export interface ReplayPlan {
  component: Component;
  topics: string[];
  active: number;
  previous: number | null;
  state: ReplayDoc | null;
  /** The unfinished generation a run would resume, if any. */
  resumes: number | null;
  backlog: number;
}

/** What a run would do, without doing it (`--dry-run`, and the first step of every run). */
export async function planReplay(target: ReplayTarget, db: Db, admin: Admin): Promise<ReplayPlan> {
  const component = componentOf(target.projections ?? PROJECTIONS, target.projection);
  const { topics } = projectorInputs(sourceNames(component.projections), target);
  const pointer = await readPointer(db, component.key);
  const state = await readReplay(db, component.key);
  const unfinished = state !== null && (state.phase === 'building' || state.phase === 'switching') && state.generation !== null;
  const { high, low } = await endOffsets(admin, topics);
  const backlog = Object.entries(high).reduce((n, [k, h]) => n + h - (low[k] ?? 0), 0);
  return { component, topics, active: pointer?.active ?? 0, previous: pointer?.previous ?? null, state, resumes: unfinished ? (state?.generation ?? null) : null, backlog };
}

/**
 * Rebuilds a component into a new generation (or, for a rollback, catches the previous one up) with
 * the live worker's engine, then hands readers and live workers over in one pointer write:
 *   1. build: a consumer group of its own reads the topics from their start (or from the frozen
 *      offsets of the generation rolled back to) into the target generation, nobody else writing it;
 *   2. switch: record the live group's committed offsets (the old generation holds everything below
 *      them), then move the pointer; readers follow within a second;
 *   3. hand-over: wait until every live worker reports the new generation (it adopts it at the start
 *      of a store round, so none of its later rounds writes the old one), then read the topics'
 *      end offsets and apply up to them. Anything a live worker applied only to the old generation
 *      was fetched before it reported, so it lies below those end offsets.
 * Convergence under the overlap (both write the new generation after the switch) is the engine's:
 * every contribution is guarded by its source position.
 */
export async function replay(target: ReplayTarget, run: ReplayRun, mode: 'rebuild' | 'rollback'): Promise<ReplayResult> {
  const { db, admin, log, display } = run;
  const plan = await planReplay(target, db, admin);
  const { component, topics } = plan;
  const lease = await ReplayLease.acquire(db, component.key, leaseOwner());
  try {
    let state = await lease.state();
    const unfinished = state.generation !== null && (state.phase === 'building' || state.phase === 'switching');
    let resumed = false;
    let generation: number;
    let group: string;
    if (unfinished && run.restart !== true) {
      generation = state.generation as number;
      group = state.group as string;
      resumed = true;
      display.say(`resuming the ${state.phase ?? ''} of generation ${generation} (${component.key}) from its last checkpoint`);
      if (state.phase === 'building') {
        // The group's own commits ran ahead of what was flushed: a fresh group starts at the
        // checkpoint (the old one may still hold a dead member until its session times out).
        await admin.deleteGroups([group]).catch(() => undefined);
        group = `${target.liveGroup}.replay.g${generation}.${Date.now().toString(36)}`;
        await rewindTo(admin, group, topics, state.checkpoint);
        await lease.update({ group });
        state = await lease.state();
      }
    } else {
      if (unfinished && state.generation !== null && state.generation !== plan.active && state.generation !== plan.previous) {
        display.say(`starting over: dropping the unfinished generation ${state.generation}`);
        await dropGeneration(db, component, state.generation);
        if (state.group !== null) await admin.deleteGroups([state.group]).catch(() => undefined);
      }
      if (mode === 'rebuild' && plan.previous !== null && plan.previous !== state.generation) {
        throw new PipelineError('REPLAY_IN_PROGRESS', `${component.key} still keeps its previous generation ${plan.previous} for a rollback`, {
          hint: `keep at most one generation to roll back to: remove it first (cdc replay ${target.projection} --drop-previous), or roll back to it (--rollback)`,
        });
      }
      if (mode === 'rollback') {
        if (plan.previous === null) {
          throw new PipelineError('NOTHING_TO_ROLL_BACK', `${component.key} has no previous generation to return to (active: ${plan.active})`, { hint: 'rebuild instead: cdc replay ' + target.projection });
        }
        generation = plan.previous;
      } else generation = await allocateGeneration(db);
      group = `${target.liveGroup}.replay.g${generation}.${Date.now().toString(36)}`;
      const frozen = mode === 'rollback' ? state.frozenAt[String(generation)] : undefined;
      // A rollback target stopped being written at these offsets: catch it up from there, not from the start.
      if (frozen !== undefined) await rewindTo(admin, group, topics, frozen);
      if (mode === 'rebuild' && target.source === 'snapshot') {
        // Row topics from their end: the snapshot re-emits every row after it. Event topics from the start.
        const start = (await endOffsets(admin, topics.filter((t) => !isEventTopic(t, target.topicPrefix)))).high;
        await rewindTo(admin, group, topics, start);
        const id = randomUUID();
        await lease.update({ generation, from: plan.active, group, start: 'snapshot', snapshot: { id, completed: false }, phase: 'building', startedAt: new Date(), progress: null, checkpoint: start });
        const tables = sourceNames(component.projections).filter((t) => t in SHOP_TABLES);
        const pgClient = superuserClient(loadSettings());
        await pgClient.connect();
        await requestSnapshot(pgClient, target.schema, tables, id).finally(() => pgClient.end());
        display.say(`asked Debezium for an incremental snapshot of ${tables.join(', ')} (signal ${id})`);
      } else {
        await lease.update({ generation, from: plan.active, group, start: frozen === undefined ? 'earliest' : 'frozen', snapshot: null, phase: 'building', startedAt: new Date(), progress: null, checkpoint: frozen ?? null });
      }
      state = await lease.state();
    }

    const started = await committedOffsets(admin, group, topics);
    const applied = new AppliedOffsets(started);
    const worker = await runWorker(
      {
        topicPrefix: target.topicPrefix,
        schema: target.schema,
        groupId: group,
        mongoDatabase: target.mongoDatabase,
        projections: component.projections,
        generation,
        progress: applied,
        deadLetters: 'skip',
        // Nobody reads this generation before the switch; a rollback target may still sit in Redis.
        cache: mode === 'rollback',
        // Nobody else writes this generation before the switch: large rounds coalesce the many
        // changes of one document into one write, and the index is built once, at the end.
        maxRoundChanges: run.maxRoundChanges ?? 100_000,
        chunkSize: Math.min(20_000, run.maxRoundChanges ?? 100_000),
        fetchBytesPerPartition: 8 * 1024 * 1024,
        exclusive: state.phase === 'building',
        onFlushed: () => lease.update({ checkpoint: Object.fromEntries(applied.next) }),
        ...(run.stagingBudget === undefined ? {} : { stagingBudget: run.stagingBudget }),
      },
      log,
    );
    // A snapshot rebuild is caught up only once Debezium has re-emitted every row.
    let watcher: SnapshotWatcher | undefined;
    const snapshot = state.snapshot;
    if (snapshot !== null && !snapshot.completed && state.phase === 'building') {
      const kafka = createKafka(loadSettings().kafkaBrokers, `cdc-replay-watch-${process.pid}`, log);
      watcher = new SnapshotWatcher(kafka.consumer({ groupId: `${group}.notifications` }), notificationTopic(target.topicPrefix), snapshot.id, log);
      await watcher.start();
    }
    const snapshotDone = (): boolean => watcher === undefined || watcher.done();
    const t0 = Date.now();
    let events = 0;
    let outcome: ReplayResult['outcome'] = 'interrupted';
    try {
      const follow = async (phase: string, until: (f: ProgressFigures, high: Offsets) => boolean, fixedHigh?: Offsets): Promise<boolean> => {
        let last = { at: Date.now(), done: -1 };
        let perSecond = 0;
        let savedAt = 0;
        for (;;) {
          lease.check();
          if (run.signal.aborted) return false;
          const offsets = await endOffsets(admin, topics);
          const high = fixedHigh ?? offsets.high;
          const f = figures(applied, high, offsets.low, started);
          const now = Date.now();
          if (last.done >= 0 && now > last.at) perSecond = perSecond === 0 ? ((f.done - last.done) * 1000) / (now - last.at) : 0.7 * perSecond + (0.3 * (f.done - last.done) * 1000) / (now - last.at);
          last = { at: now, done: f.done };
          events = f.done;
          const shown = { ...f, perSecond: Math.max(0, perSecond) };
          display.update(phase, shown);
          if (now - savedAt > 5000) {
            savedAt = now;
            await lease.update({ progress: shown });
          }
          if (until(shown, high)) return true;
          await sleep(500, undefined, { signal: run.signal }).catch(() => undefined);
        }
      };

      if (state.phase === 'building') {
        const catchUp = run.catchUpLag ?? 1000;
        if (!(await follow(watcher === undefined ? 'building' : 'building (snapshot)', (f) => snapshotDone() && f.lag <= catchUp))) return finish();
        if (watcher !== undefined) await lease.update({ snapshot: { id: snapshot?.id ?? '', completed: true } });
        lease.check();
        // From here on live workers may write this generation too: compare-and-set again.
        await worker.endExclusive();
        // The generation readers leave holds every change below the live group's committed offsets.
        const frozen = await committedOffsets(admin, target.liveGroup, topics);
        const from = (await readPointer(db, component.key))?.active ?? 0;
        await lease.update({ phase: 'switching', from, frozenAt: { ...state.frozenAt, [String(from)]: frozen } });
        state = await lease.state();
      }
      if ((await readPointer(db, component.key))?.active !== generation) {
        lease.check();
        await setPointer(db, component.key, generation, state.from ?? 0);
        display.say(`switched: readers of ${component.key} now read generation ${generation}`);
      }
      if (!(await waitForAdoption(db, admin, target.liveGroup, component.key, generation, run))) return finish();
      const end = (await endOffsets(admin, topics)).high;
      if (!(await follow('hand-over', (_f, high) => Object.entries(high).every(([k, h]) => (applied.next.get(k) ?? started[k] ?? 0) >= h), end))) return finish();
      await lease.update({ phase: 'done' });
      outcome = 'switched';
      return finish();
    } finally {
      await watcher?.stop();
      await worker.stop();
      if (outcome === 'switched') await admin.deleteGroups([group, `${group}.notifications`]).catch(() => undefined);
    }

    function finish(): ReplayResult {
      const seconds = (Date.now() - t0) / 1000;
      return { component: component.key, generation, previous: state.from ?? 0, events, seconds, perSecond: seconds > 0 ? events / seconds : 0, resumed, outcome, storeTimings: worker.storeTimings() };
    }
  } finally {
    await lease.release();
  }
}

/** Sets a (memberless) group's offsets: the checkpoint's, and each partition's start elsewhere. */
async function rewindTo(admin: Admin, group: string, topics: string[], checkpoint: Offsets | null): Promise<void> {
  const { low } = await endOffsets(admin, topics);
  for (const topic of topics) {
    const partitions = Object.keys(low)
      .filter((k) => k.startsWith(`${topic}|`))
      .map((k) => ({ partition: Number(k.slice(topic.length + 1)), offset: String(checkpoint?.[k] ?? low[k] ?? 0) }));
    if (partitions.length > 0) await admin.setOffsets({ groupId: group, topic, partitions });
  }
}

/**
 * Until every member of the live group reports writing `generation`. A worker that never reports
 * is an older build that does not follow the pointer, or one that hangs: the run stops (resumable)
 * rather than hand over without it.
 */
async function waitForAdoption(db: Db, admin: Admin, liveGroup: string, component: string, generation: number, run: ReplayRun): Promise<boolean> {
  const deadline = Date.now() + (run.adoptTimeoutMs ?? 90_000);
  for (;;) {
    if (run.signal.aborted) return false;
    const described = await admin.describeGroups([liveGroup]);
    const members = (described.groups[0]?.members ?? []).map((m) => m.clientId);
    const reports = await db
      .collection<WorkerReport>(WORKERS_COLLECTION)
      .find({ _id: { $in: members } })
      .toArray();
    const behind = members.filter((id) => reports.find((r) => r._id === id)?.generations[component] !== generation);
    if (behind.length === 0) return true;
    if (Date.now() > deadline) {
      throw new PipelineError('TIMEOUT', `live workers did not move to generation ${generation}: ${behind.join(', ')}`, {
        hint: 'readers already use the new generation; upgrade or restart those workers, then run cdc replay again to finish the hand-over',
      });
    }
    await sleep(250);
  }
}

/** Removes the previous generation for good (after which there is nothing to roll back to). */
export async function dropPrevious(target: ReplayTarget, db: Db): Promise<number | null> {
  const component = componentOf(target.projections ?? PROJECTIONS, target.projection);
  const lease = await ReplayLease.acquire(db, component.key, leaseOwner());
  try {
    const pointer = await readPointer(db, component.key);
    if (pointer === null || pointer.previous === null) return null;
    await dropGeneration(db, component, pointer.previous);
    await setPointer(db, component.key, pointer.active, null);
    return pointer.previous;
  } finally {
    await lease.release();
  }
}
