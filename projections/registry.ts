import { customerViews } from './customer-views.js';
import { orderViews } from './order-views.js';
import type { Projection } from './types.js';

/** Every projection the engine runs, in dependency order (a projection after those it derives from). */
export const PROJECTIONS: readonly Projection[] = [orderViews, customerViews];

export function projectionByName(name: string): Projection | undefined {
  return PROJECTIONS.find((p) => p.name === name);
}
