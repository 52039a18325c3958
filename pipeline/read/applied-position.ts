import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import type { Logger } from '../logger.js';

/** A Postgres LSN as text ("16/B374D848") or as its byte position in decimal. */
export function parseLsn(text: string): bigint | undefined {
  const hex = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (hex !== null) return (BigInt(`0x${hex[1]}`) << 32n) + BigInt(`0x${hex[2]}`);
  return /^\d{1,20}$/.test(text.trim()) ? BigInt(text.trim()) : undefined;
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export interface AppliedPositionOptions {
  pg: pg.Pool;
  /** The connector's replication slot. */
  slot: string;
  kafka: Kafka;
  /** The projector's consumer group, and the topics it reads. */
  groupId: string;
  topics: string[];
  log: Logger;
}

interface Probe {
  lsn: bigint;
  ends: Map<string, number>;
}

/**
 * How far the projections have applied the source, as an LSN: every change committed at or before
 * `watermark` is in the store (and the cache). Built only from authoritative signals:
 * 1. the slot's confirmed_flush_lsn: Debezium confirms an LSN only after Kafka Connect committed
 *    its offsets, which it does only once the producer's writes up to there are acknowledged; so
 *    every change at or before it is in Kafka;
 * 2. the topics' end offsets, read after (1): those records lie below them;
 * 3. the group's committed offsets: the worker commits only after the store (and the cache
 *    update) acknowledged the writes.
 * When (3) reaches the ends of (2), the LSN of (1) is applied.
 */
export class AppliedPosition {
  watermark = 0n;
  private readonly probes: Probe[] = [];
  private waiters = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private connected = false;
  /** Said once per outage, not once per poll. */
  private saidUnavailable = false;
  private readonly admin;

  constructor(private readonly opts: AppliedPositionOptions) {
    this.admin = opts.kafka.admin();
  }

  /**
   * Starts polling. Kafka is connected to from the poll, not here: the read API must start and
   * serve reads while Kafka is down; a read-your-writes read then waits out its bound and
   * answers stale.
   */
  start(): void {
    this.admin.on(this.admin.events.DISCONNECT, () => (this.connected = false));
    this.schedule(0);
  }

  /** Whether the last poll reached Kafka (readiness detail; reads never depend on it). */
  get kafkaConnected(): boolean {
    return this.connected;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.admin.disconnect();
  }

  /** Resolves once `lsn` is applied (fresh) or `timeoutMs` has passed (not fresh). */
  async waitFor(lsn: bigint, timeoutMs: number): Promise<{ fresh: boolean; applied: bigint }> {
    const deadline = Date.now() + timeoutMs;
    this.waiters += 1;
    try {
      if (this.watermark < lsn) this.schedule(0);
      while (this.watermark < lsn && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return { fresh: this.watermark >= lsn, applied: this.watermark };
    } finally {
      this.waiters -= 1;
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll().finally(() => this.schedule(this.waiters > 0 ? 50 : 1000)), ms);
  }

  private async poll(): Promise<void> {
    try {
      if (!this.connected) {
        await this.admin.connect();
        this.connected = true;
        if (this.saidUnavailable) this.opts.log.info({ event: 'kafka_available' }, 'Kafka answers again: read-your-writes reads can be fresh');
        this.saidUnavailable = false;
      }
      const { rows } = await this.opts.pg.query<{ lsn: string | null }>("SELECT (confirmed_flush_lsn - '0/0')::text AS lsn FROM pg_replication_slots WHERE slot_name = $1", [this.opts.slot]);
      const confirmed = rows[0]?.lsn === null || rows[0] === undefined ? undefined : BigInt(rows[0].lsn.split('.')[0] ?? '0');
      const last = this.probes.at(-1)?.lsn ?? this.watermark;
      if (confirmed !== undefined && confirmed > last) this.probes.push({ lsn: confirmed, ends: await this.endOffsets() });
      if (this.probes.length === 0) return;
      const committed = await this.committedOffsets();
      while (this.probes.length > 0) {
        const probe = this.probes[0] as Probe;
        const covered = [...probe.ends].every(([key, end]) => end === 0 || (committed.get(key) ?? -1) >= end);
        if (!covered) break;
        this.watermark = probe.lsn;
        this.probes.shift();
      }
    } catch (err) {
      if (!this.connected) {
        if (!this.saidUnavailable) this.opts.log.warn({ err: String(err), event: 'kafka_unavailable' }, 'Kafka does not answer: read-your-writes reads answer stale until it does; check KAFKA_HOST and KAFKA_PORT');
        this.saidUnavailable = true;
      } else this.opts.log.debug({ err: String(err), event: 'applied_position_poll_failed' }, 'could not read the applied position');
    }
  }

  private async endOffsets(): Promise<Map<string, number>> {
    const ends = new Map<string, number>();
    for (const topic of this.opts.topics) for (const p of await this.admin.fetchTopicOffsets(topic)) ends.set(`${topic}/${p.partition}`, Number(p.high));
    return ends;
  }

  private async committedOffsets(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const t of await this.admin.fetchOffsets({ groupId: this.opts.groupId, topics: this.opts.topics })) {
      for (const p of t.partitions) out.set(`${t.topic}/${p.partition}`, Number(p.offset));
    }
    return out;
  }
}
