import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RoundHealth } from '../engine/round-health.js';

/**
 * Everything a worker reports, in Prometheus naming (units in names, `_total` counters). One
 * registry per worker, so several workers in one process (tests) do not mix their numbers.
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  /** Source commit time (ms) of the newest change applied; 0 before the first. */
  lastAppliedSourceMs = 0;
  /** Whether rounds get written: behind /readyz and cdc_rounds_failing_seconds. */
  readonly rounds = new RoundHealth();

  readonly lag = new Gauge({ name: 'cdc_consumer_lag_records', help: 'Records in the partition not yet applied (as of its last fetch)', labelNames: ['topic', 'partition'], registers: [this.registry] });
  readonly freshness: Gauge = new Gauge({
    name: 'cdc_freshness_seconds',
    help: 'Now minus the source commit time of the last applied change',
    registers: [this.registry],
    collect: (): void => this.freshness.set(this.freshnessSeconds()),
  });
  readonly roundsFailing: Gauge = new Gauge({
    name: 'cdc_rounds_failing_seconds',
    help: 'How long rounds have been failing without one written since (retried, or a partition re-read after a pause); 0 when the last one was written',
    registers: [this.registry],
    collect: (): void => this.roundsFailing.set(this.rounds.failingForMs() / 1000),
  });
  readonly endToEnd = new Histogram({
    name: 'cdc_end_to_end_delay_seconds',
    help: 'Source commit to applied in the store (and the cache), per change',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly changesApplied = new Counter({ name: 'cdc_changes_applied_total', help: 'Changes applied, per projection that reads them', labelNames: ['projection'], registers: [this.registry] });
  readonly documentsWritten = new Counter({ name: 'cdc_documents_written_total', help: 'Documents written, per collection', labelNames: ['collection'], registers: [this.registry] });
  readonly batchRecords = new Histogram({ name: 'cdc_batch_records', help: 'Records per applied chunk of a fetched batch', buckets: [1, 10, 50, 100, 500, 1000, 2000, 5000], registers: [this.registry] });
  readonly roundChanges = new Histogram({ name: 'cdc_round_changes', help: 'Changes per store round (group commit across partitions)', buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 20000, 40000, 80000], registers: [this.registry] });
  readonly heapLimit = new Gauge({ name: 'cdc_heap_limit_bytes', help: "V8's heap size limit (capped by cdc run --memory-mib)", registers: [this.registry] });
  readonly roundLimit = new Gauge({ name: 'cdc_round_limit_changes', help: 'Most changes the next store round may take (follows the memory budget when one is set)', registers: [this.registry] });
  readonly storeSeconds = new Histogram({
    name: 'cdc_store_operation_seconds',
    help: 'Latency of store operations (bulk writes and reads), by operation',
    labelNames: ['operation'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({ name: 'cdc_dead_letters_total', help: 'Events set aside in a dead-letter topic', labelNames: ['topic', 'kind'], registers: [this.registry] });
  readonly storeErrors = new Counter({ name: 'cdc_store_errors_total', help: 'Rounds that failed and were retried', labelNames: ['code'], registers: [this.registry] });
  readonly rebalances = new Counter({ name: 'cdc_rebalances_total', help: 'Times this worker joined its group (each rebalance)', registers: [this.registry] });
  readonly assigned = new Gauge({ name: 'cdc_assigned_partitions', help: 'Partitions assigned to this worker', registers: [this.registry] });
  readonly halted = new Gauge({ name: 'cdc_consumer_halted', help: '1 once the consumer stopped for good (poison guard tripped, or kafkajs crashed without rejoining); /readyz names the cause', registers: [this.registry] });
  readonly cacheFailures = new Counter({ name: 'cdc_cache_update_failures_total', help: 'Cache updates that failed (Redis unavailable)', registers: [this.registry] });

  freshnessSeconds(): number {
    return this.lastAppliedSourceMs === 0 ? 0 : (Date.now() - this.lastAppliedSourceMs) / 1000;
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cdc_worker_' });
    this.heapLimit.set(getHeapStatistics().heap_size_limit);
  }

  /** Operations are named `<kind> <collection>` (a handful per projection): bounded cardinality. */
  observeStore(operation: string, ms: number): void {
    this.storeSeconds.observe({ operation }, ms / 1000);
  }
}
