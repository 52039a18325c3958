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
 * picks the factor from the allocation rate, up to 4x, and a draining worker allocates fast: its
 * resident set ran to 746 MiB on the 254,000-record W2 drain. Each mark walks the whole live heap,
 * which a backlog's rounds make large (200–350 MiB), so the factor is also CPU: on that drain the
 * worker used 27.5–28.8 CPU seconds growing by 25%, 18.3–21.0 by 100%, 20.2 by V8's choice, with
 * the store on the same two cores (docs/PERFORMANCE.md, "Heap growth"). By default the worker
 * grows its heap by 100% (peak 477–523 MiB there); under a memory budget by 25%, where the heap
 * cap bounds it and frequent marks keep the rounds' memory reading true.
 */
export const HEAP_GROWING_PERCENT = { byDefault: 100, budgeted: 25 } as const;

/** For processes that run a worker (`cdc run`, `cdc demo`, `cdc replay`, `cdc bench`); V8 reads it at every limit it sets. */
export function limitHeapGrowth(budgeted: boolean): void {
  setFlagsFromString(`--heap-growing-percent=${budgeted ? HEAP_GROWING_PERCENT.budgeted : HEAP_GROWING_PERCENT.byDefault}`);
}
