/**
 * Tells one poison record from a bad release. Single records that cannot be decoded or projected are
 * parked and the partition moves on; but when most records of a recent window fail the same way (a
 * projection that throws on everything, a row schema that rejects every row), parking would empty
 * the topic into its dead-letter topic. The guard then trips and the worker stops consuming instead.
 *
 * "The same way" is the reason with its numbers and quoted values blanked, so one bug hitting many
 * rows counts as one cause.
 */
export interface PoisonGuardOptions {
  /** Records looked back over. */
  window: number;
  /** Share of the window one cause must reach to trip (0 < share <= 1). */
  share: number;
}

export const DEFAULT_POISON_GUARD: PoisonGuardOptions = { window: 100, share: 0.5 };

export interface Tripped {
  cause: string;
  failed: number;
  window: number;
}

export function failureSignature(reason: string): string {
  return reason
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '"…"')
    .replace(/\d+/g, '#')
    .slice(0, 160);
}

export class PoisonGuard {
  /** The last `window` outcomes in a ring: a cause's signature, or null for a record that went through. */
  private readonly ring: (string | null)[];
  private next = 0;
  private readonly counts = new Map<string, number>();
  private readonly threshold: number;

  constructor(private readonly opts: PoisonGuardOptions = DEFAULT_POISON_GUARD) {
    if (!(opts.share > 0 && opts.share <= 1) || !Number.isInteger(opts.window) || opts.window < 1) {
      throw new RangeError(`poison guard needs a window >= 1 and 0 < share <= 1, got ${opts.window} and ${opts.share}`);
    }
    this.ring = new Array<string | null>(opts.window).fill(null);
    this.threshold = Math.max(1, Math.ceil(opts.share * opts.window));
  }

  /** `n` records went through. */
  passed(n: number): void {
    for (let i = 0; i < Math.min(n, this.opts.window); i++) this.push(null);
  }

  /**
   * Whether failing one more record for `reason` would trip the guard; if not, the failure is
   * counted (the caller parks the record). A tripping record is not counted: it is left unparked.
   */
  wouldTrip(reason: string): Tripped | undefined {
    const signature = failureSignature(reason);
    const failed = (this.counts.get(signature) ?? 0) + 1;
    if (failed >= this.threshold) return { cause: reason, failed, window: this.opts.window };
    this.push(signature);
    return undefined;
  }

  private push(outcome: string | null): void {
    const old = this.ring[this.next];
    if (old !== null && old !== undefined) {
      const left = (this.counts.get(old) ?? 1) - 1;
      if (left === 0) this.counts.delete(old);
      else this.counts.set(old, left);
    }
    this.ring[this.next] = outcome;
    if (outcome !== null) this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
    this.next = (this.next + 1) % this.opts.window;
  }
}
