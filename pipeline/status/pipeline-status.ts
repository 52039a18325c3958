import kafkajs, { type Kafka } from 'kafkajs';
import type { Db } from 'mongodb';
import type { Projection } from '../../projections/types.js';
import { listDeadLetters } from '../dlq/dlq.js';
import { deadLetterTopic } from '../engine/dead-letter.js';
import { PROGRESS_COLLECTION, type ProgressDoc } from '../engine/progress.js';
import { sourceNames } from '../engine/projector.js';
import { readReplay } from '../replay/replay-lease.js';
import { componentsOf, readPointer } from '../store/generations.js';
import { projectorInputs } from '../worker/run-worker.js';

export interface PartitionStatus {
  topic: string;
  partition: number;
  end: number;
  committed: number | null;
  lagEvents: number;
  /** 0 when caught up; else now minus the source time of the newest change applied from it. */
  lagSeconds: number;
  lastAppliedSource: string | null;
}

export interface ProjectionStatus {
  projection: string;
  lagEvents: number;
  lagSeconds: number;
  lastAppliedSource: string | null;
  deadLettersWaiting: number;
  /** The generation readers and live workers use (`cdc replay` moves it). */
  generation: number;
  /** A rebuild not yet finished, if any. */
  rebuild: { generation: number | null; phase: string; owner: string | null } | null;
}

export interface WorkerStatus {
  clientId: string;
  host: string;
  partitions: string[];
}

export interface PipelineStatus {
  at: string;
  group: string;
  groupState: string;
  workers: WorkerStatus[];
  projections: ProjectionStatus[];
  partitions: PartitionStatus[];
  /** Conditions that will lose data if left alone (a lag nearing the window compaction keeps deletes for). */
  warnings: string[];
}

/** Warn when a partition's lag passes this share of the time its compacted topic keeps deletes. */
const DELETE_WINDOW_WARNING_SHARE = 0.5;

/**
 * One look at a projector group, from Kafka (end and committed offsets, members and their
 * partitions, dead letters) and from the progress workers record in the store (source times).
 */
export async function pipelineStatus(
  kafka: Kafka,
  db: Db,
  projections: readonly Projection[],
  target: { groupId: string; topicPrefix: string; schema: string },
): Promise<PipelineStatus> {
  const now = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { topics } = projectorInputs(sourceNames(projections), target);
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    const committed = new Map<string, number>();
    for (const t of present.length === 0
      ? []
      : await admin.fetchOffsets({ groupId: target.groupId, topics: present })) {
      for (const p of t.partitions) committed.set(`${t.topic}/${p.partition}`, Number(p.offset));
    }
    const progress = new Map(
      (await db.collection<ProgressDoc>(PROGRESS_COLLECTION).find({ group: target.groupId }).toArray()).map((p) => [
        `${p.topic}/${p.partition}`,
        p,
      ]),
    );
    const partitions: PartitionStatus[] = [];
    for (const topic of present) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const key = `${topic}/${p.partition}`;
        const end = Number(p.high);
        const done = committed.get(key) ?? -1;
        const lagEvents = Math.max(0, end - Math.max(done, Number(p.low)));
        const sourceMs = progress.get(key)?.sourceMs ?? 0;
        partitions.push({
          topic,
          partition: p.partition,
          end,
          committed: done < 0 ? null : done,
          lagEvents,
          lagSeconds:
            lagEvents === 0 ? 0 : sourceMs === 0 ? Number.POSITIVE_INFINITY : Math.max(0, (now - sourceMs) / 1000),
          lastAppliedSource: sourceMs === 0 ? null : new Date(sourceMs).toISOString(),
        });
      }
    }
    const dlq = new Map((await listDeadLetters(kafka)).map((d) => [d.topic, d.waiting]));
    const components = componentsOf(projections);
    const generations = new Map<string, Pick<ProjectionStatus, 'generation' | 'rebuild'>>();
    for (const c of components) {
      const pointer = await readPointer(db, c.key);
      const replay = await readReplay(db, c.key);
      const unfinished = replay !== null && (replay.phase === 'building' || replay.phase === 'switching');
      const owner = replay !== null && replay.owner !== null && replay.expiresAt.getTime() > now ? replay.owner : null;
      for (const p of c.projections)
        generations.set(p.name, {
          generation: pointer?.active ?? 0,
          rebuild: unfinished ? { generation: replay.generation, phase: replay.phase ?? '', owner } : null,
        });
    }
    const projectionStatus = projections.map((projection) => {
      const own = new Set(projectorInputs(sourceNames([projection]), target).topics);
      const mine = partitions.filter((p) => own.has(p.topic));
      const latest = Math.max(
        0,
        ...mine.map((p) => (p.lastAppliedSource === null ? 0 : Date.parse(p.lastAppliedSource))),
      );
      return {
        projection: projection.name,
        lagEvents: mine.reduce((n, p) => n + p.lagEvents, 0),
        lagSeconds: Math.max(0, ...mine.map((p) => p.lagSeconds)),
        lastAppliedSource: latest === 0 ? null : new Date(latest).toISOString(),
        // A row topic and its retry topic share one dead-letter topic.
        deadLettersWaiting: [...new Set([...own].map(deadLetterTopic))].reduce((n, t) => n + (dlq.get(t) ?? 0), 0),
        ...(generations.get(projection.name) ?? { generation: 0, rebuild: null }),
      };
    });
    const described = (await admin.describeGroups([target.groupId])).groups[0];
    const workers = (described?.members ?? []).map((m) => {
      const decoded =
        m.memberAssignment.length === 0 ? null : kafkajs.AssignerProtocol.MemberAssignment.decode(m.memberAssignment);
      const assignment = decoded?.assignment ?? {};
      return {
        clientId: m.clientId,
        host: m.clientHost,
        partitions: Object.entries(assignment)
          .flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`))
          .sort(),
      };
    });
    const warnings = await deleteWindowWarnings(admin, partitions);
    return {
      at: new Date(now).toISOString(),
      group: target.groupId,
      groupState: described?.state ?? 'Unknown',
      workers,
      projections: projectionStatus,
      partitions,
      warnings,
    };
  } finally {
    await admin.disconnect();
  }
}

/**
 * A compacted row topic drops a delete's tombstone `delete.retention.ms` after compaction reached
 * it; a worker further behind than that never sees the delete, and the document outlives its row.
 */
async function deleteWindowWarnings(
  admin: ReturnType<Kafka['admin']>,
  partitions: PartitionStatus[],
): Promise<string[]> {
  const behind = partitions.filter((p) => p.lagEvents > 0);
  const topics = [...new Set(behind.map((p) => p.topic))];
  if (topics.length === 0) return [];
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: kafkajs.ConfigResourceTypes.TOPIC, name })),
  });
  const warnings: string[] = [];
  for (const r of described.resources) {
    const config = (name: string) => r.configEntries.find((e) => e.configName === name)?.configValue;
    if (!(config('cleanup.policy') ?? '').includes('compact')) continue;
    // The worker applies a delete from its change event; compaction drops that event (the
    // tombstone after it wins) once min.compaction.lag.ms has passed, and the tombstone itself
    // delete.retention.ms after that.
    const minLag = Number(config('min.compaction.lag.ms') ?? 0);
    const windowS = (minLag > 0 ? minLag : Number(config('delete.retention.ms') ?? 86_400_000)) / 1000;
    for (const p of behind.filter((b) => b.topic === r.resourceName)) {
      // An unknown lag (nothing applied from it yet) is no evidence either way.
      if (Number.isFinite(p.lagSeconds) && p.lagSeconds > windowS * DELETE_WINDOW_WARNING_SHARE) {
        warnings.push(
          `${p.topic}/${p.partition} lags ${p.lagSeconds.toFixed(0)} s; compaction may drop its delete events after ${windowS.toFixed(0)} s (min.compaction.lag.ms, else delete.retention.ms): further behind, a worker misses deletes. Add workers, or raise both in the connector file's topic.creation settings and run cdc connectors apply`,
        );
      }
    }
  }
  return warnings;
}

export function formatStatus(s: PipelineStatus): string {
  const secs = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} s` : 'unknown');
  const lines = [
    `group ${s.group} (${s.groupState}) at ${s.at}`,
    '',
    'PROJECTION         LAG EVENTS   LAG SECONDS   LAST APPLIED SOURCE TIME    DEAD LETTERS',
  ];
  for (const p of s.projections) {
    lines.push(
      `${p.projection.padEnd(18)} ${String(p.lagEvents).padStart(10)}   ${secs(p.lagSeconds).padStart(11)}   ${(p.lastAppliedSource ?? '-').padEnd(26)}  ${String(p.deadLettersWaiting).padStart(12)}`,
    );
  }
  lines.push('', 'GENERATIONS (cdc replay status for more)');
  for (const p of s.projections) {
    const r = p.rebuild;
    const rebuilding =
      r === null
        ? ''
        : `; rebuild of generation ${r.generation ?? '?'} ${r.phase}${r.owner === null ? ' (no one holds the lease: run cdc replay again to resume)' : ` by ${r.owner}`}`;
    lines.push(`  ${p.projection}: generation ${p.generation}${rebuilding}`);
  }
  lines.push('', `WORKERS (${s.workers.length})`);
  for (const w of s.workers) lines.push(`  ${w.clientId} on ${w.host}: ${w.partitions.length} partitions`);
  const behind = s.partitions.filter((p) => p.lagEvents > 0);
  if (behind.length > 0) {
    lines.push('', 'PARTITIONS BEHIND');
    for (const p of behind) lines.push(`  ${p.topic}/${p.partition}: ${p.lagEvents} events, ${secs(p.lagSeconds)}`);
  }
  if (s.warnings.length > 0) lines.push('', 'WARNINGS', ...s.warnings.map((w) => `  ${w}`));
  return lines.join('\n');
}
