import type { z } from 'zod';

/**
 * The history of one versioned shape (an event type or a document): a zod schema per version and
 * a pure upcaster for every step. It is built one version at a time, and `next` demands the
 * upcaster from the previous version's type, so a new version without its upcaster does not
 * compile. Readers and workers upcast whatever version they meet to the current one.
 */
export class VersionHistory<Current> {
  private constructor(
    readonly name: string,
    private readonly schemas: readonly z.ZodType[],
    private readonly upcasters: readonly ((previous: unknown) => unknown)[],
  ) {}

  static start<V1>(name: string, v1: z.ZodType<V1>): VersionHistory<V1> {
    return new VersionHistory<V1>(name, [v1], []);
  }

  /** The next version: its schema, and how a value of the current version becomes one. */
  next<N>(schema: z.ZodType<N>, upcast: (previous: Current) => N): VersionHistory<N> {
    return new VersionHistory<N>(this.name, [...this.schemas, schema], [...this.upcasters, upcast as (previous: unknown) => unknown]);
  }

  /** The newest version this build knows. */
  get current(): number {
    return this.schemas.length;
  }

  get currentSchema(): z.ZodType<Current> {
    return this.schemas[this.schemas.length - 1] as z.ZodType<Current>;
  }

  schemaOf(version: number): z.ZodType | undefined {
    return this.schemas[version - 1];
  }

  /** What a build that knew only versions 1..`version` would have held: an older worker. */
  truncated(version: number): VersionHistory<unknown> {
    if (version < 1 || version > this.current) throw new RangeError(`${this.name} has versions 1..${this.current}, not ${version}`);
    return new VersionHistory<unknown>(this.name, this.schemas.slice(0, version), this.upcasters.slice(0, version - 1));
  }

  /**
   * Validates `value` as `version`, upcasts it step by step and validates the result against the
   * current schema. Never throws for bad input: the reason says which version failed and where.
   */
  upcast(version: number, value: unknown): UpcastResult<Current> {
    if (!Number.isInteger(version) || version < 1) return { ok: false, kind: 'invalid', reason: `${this.name}: schemaVersion ${version} is not a positive integer` };
    if (version > this.current) {
      return { ok: false, kind: 'future', reason: `${this.name} v${version} is newer than this worker knows (up to v${this.current}): upgrade the worker, then replay the parked events` };
    }
    const parsed = (this.schemas[version - 1] as z.ZodType).safeParse(value);
    if (!parsed.success) return { ok: false, kind: 'invalid', reason: `${this.name} v${version} invalid: ${describeIssues(parsed.error)}` };
    let current: unknown = parsed.data;
    for (let v = version; v < this.current; v++) {
      try {
        current = (this.upcasters[v - 1] as (previous: unknown) => unknown)(current);
      } catch (err) {
        // An upcaster that cannot lift this value (a decimal it cannot convert, a bug) makes it
        // this event's poison: it is dead-lettered with the reason, never the partition's stop.
        return { ok: false, kind: 'invalid', reason: `${this.name} v${version} cannot be upcast to v${v + 1}: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    if (version === this.current) return { ok: true, value: current as Current };
    const final = this.currentSchema.safeParse(current);
    if (!final.success) return { ok: false, kind: 'invalid', reason: `${this.name} v${version} upcast to v${this.current} is invalid (an upcaster bug): ${describeIssues(final.error)}` };
    return { ok: true, value: final.data };
  }
}

export type UpcastResult<T> = { ok: true; value: T } | { ok: false; kind: 'invalid' | 'future'; reason: string };

export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
