import { getHeapStatistics, setFlagsFromString } from 'node:v8';

/**
 * How many changes a store round may take. Larger rounds coalesce more changes into each document
 * write and fan out less often, so a backlog drains faster, but a round holds its changes and
 * every document it touches in memory at once: memory grows with the round.
 */
export interface RoundSizer {
  /** The current limit, read when a round is formed and by the consumer's backpressure. */
  readonly limit: number;
  /** Called once a round is done: a sizer that follows memory adjusts the next limit here. */
  afterRound(): void;
}

export function fixedRounds(limit: number): RoundSizer {
  return { limit, afterRound: () => undefined };
}

export interface MemoryBudget {
  /** Resident set size the process should stay under. */
  budgetBytes: number;
  /** The most a round may ever take (the throughput setting's limit). */
  maxRoundChanges: number;
  /** The least a round may take, however tight memory is. */
  minRoundChanges?: number;
  /** Resident memory and V8 heap now (injected by tests). */
  memory?: () => { rss: number; heapUsed: number; heapLimit: number };
}

function processMemory(): { rss: number; heapUsed: number; heapLimit: number } {
  const heap = getHeapStatistics();
  return { rss: process.memoryUsage.rss(), heapUsed: heap.used_heap_size, heapLimit: heap.heap_size_limit };
}

/**
 * Follows a memory budget: the pressure is the larger of resident memory against the budget and
 * the V8 heap against its limit (a capped heap fills up and collects long before the resident
 * set shows it). Halves the round limit above 90% pressure, grows it by a quarter below 75%.
 * Starts small, so a worker that starts on a backlog does not overshoot before it measures.
 */
export class MemoryBudgetRounds implements RoundSizer {
  private current: number;
  private readonly min: number;
  private readonly memory: () => { rss: number; heapUsed: number; heapLimit: number };

  constructor(private readonly opts: MemoryBudget) {
    this.min = Math.min(opts.minRoundChanges ?? 500, opts.maxRoundChanges);
    this.current = Math.max(this.min, Math.min(opts.maxRoundChanges, 2000));
    this.memory = opts.memory ?? processMemory;
  }

  get limit(): number {
    return this.current;
  }

  afterRound(): void {
    const m = this.memory();
    const pressure = Math.max(m.rss / this.opts.budgetBytes, m.heapUsed / m.heapLimit);
    if (pressure > 0.9) this.current = Math.max(this.min, Math.floor(this.current / 2));
    else if (pressure < 0.75) this.current = Math.min(this.opts.maxRoundChanges, Math.ceil(this.current * 1.25));
  }
}

/**
 * V8's old space under a memory budget: five eighths of it. The rest is the young generation,
 * Buffers (fetched batches, BSON) and the code itself. Without a cap V8 lets garbage pile up to
 * gigabytes before it collects, and the rounds would shrink for garbage rather than live data.
 * Half was too tight once fetched batches stopped piling up: the heap's pressure, garbage
 * included, kept rounds small while the resident set stayed well under the budget. On a
 * 236,447-record drain under 256 MiB: 1,344 records/s at 220 MiB with 128, 1,889 at 216 MiB with
 * 160. (`./cdc` applies the same cap when it starts `run --memory-mib N`.)
 */
export function heapCapMiB(budgetMiB: number): number {
  return Math.floor((budgetMiB * 5) / 8);
}

/**
 * How much V8 lets its old space grow past the live data before it marks again. By default it
 * picks the factor from the allocation rate, up to 4x, and a draining worker allocates fast: on
 * the 32,000-record W2 drain of `bench compare --quick` its heap peaked at about 200 MiB for 50–80
 * MiB live, and its resident set at 328–354 MiB. Growing by a quarter gave 238–247 MiB at the same
 * records/s (3,332–4,545 over five runs against 3,683–4,328 over seven).
 */
export const HEAP_GROWING_PERCENT = 25;

/** For processes that run a worker (`cdc run`, `cdc demo`, `cdc replay`); V8 reads it at every limit it sets. */
export function limitHeapGrowth(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
