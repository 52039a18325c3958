import { z } from 'zod';
import type { RowChange } from '../../schemas/change.js';

/**
 * What `cdc run --report-applied` sends its parent after every round: when the round was
 * acknowledged, and which changes it held (table, row id, position: a change's identity).
 */
export const AppliedReport = z.object({
  kind: z.literal('applied'),
  at: z.number(),
  changes: z.array(z.tuple([z.string(), z.string(), z.number()])),
});
export type AppliedReport = z.infer<typeof AppliedReport>;

export function appliedReport(changes: readonly RowChange[]): AppliedReport {
  return { kind: 'applied', at: Date.now(), changes: changes.map((c) => [c.table, c.id, c.position]) };
}

/** The key a change is known by on both sides of the channel. */
export function changeKey(table: string, id: string, position: number): string {
  return `${table}:${id}@${position}`;
}
