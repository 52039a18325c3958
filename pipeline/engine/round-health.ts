/**
 * Whether a worker's rounds are getting written. A worker can be connected to Kafka and the store
 * and hold its partitions while every round fails: a build whose projection throws on real data,
 * writes the store refuses, a store that answers pings but not writes. Its lag then grows while
 * /readyz said ready, and a rolling upgrade went on replacing good workers with it. This keeps
 * the oldest failure not yet followed by a success, so readiness and a gauge can say so.
 */
export class RoundHealth {
  /** When the store round being retried first failed (retriable failures: outages). */
  private retryingSince: number | undefined;
  /** Per topic/partition: when its rounds started failing (re-read after a pause), until it commits. */
  private readonly partitionsFailingSince = new Map<string, number>();

  /** When the store round in flight started (undefined: none). */
  private inFlightSince: number | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /** A store round started. */
  started(): void {
    this.inFlightSince = this.now();
  }

  /**
   * How long the round in flight has run without failing once, in ms (0: none in flight, or it is
   * retrying an outage, which is waiting, not hanging). A round that neither ends nor fails awaits
   * something that will never answer.
   */
  stuckForMs(): number {
    if (this.inFlightSince === undefined || this.retryingSince !== undefined) return 0;
    return this.now() - this.inFlightSince;
  }

  /** A round failed and will be tried again as it is. */
  retrying(): void {
    this.retryingSince ??= this.now();
  }

  /** A round was written (or its retries were given up): the retry loop is not failing any more. */
  settled(): void {
    this.retryingSince = undefined;
    this.inFlightSince = undefined;
  }

  /** A round failed for good; the partition will be read again from its last commit. */
  partitionFailed(key: string): void {
    if (!this.partitionsFailingSince.has(key)) this.partitionsFailingSince.set(key, this.now());
  }

  /** The partition committed past what failed, or is no longer this worker's. */
  partitionRecovered(key: string): void {
    this.partitionsFailingSince.delete(key);
  }

  /** After a rebalance: the partitions' new owners judge their own. */
  partitionsReassigned(): void {
    this.partitionsFailingSince.clear();
  }

  /** How long the oldest failure without a success since has lasted, in ms (0: none). */
  failingForMs(): number {
    const since = [this.retryingSince, ...this.partitionsFailingSince.values()].filter(
      (t): t is number => t !== undefined,
    );
    return since.length === 0 ? 0 : this.now() - Math.min(...since);
  }

  /** The partitions whose rounds are failing (topic/partition), oldest first. */
  failingPartitions(): string[] {
    return [...this.partitionsFailingSince].sort((a, b) => a[1] - b[1]).map(([key]) => key);
  }
}
