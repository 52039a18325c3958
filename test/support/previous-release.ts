import { customerViews } from '../../projections/customer-views.js';
import { orderViews } from '../../projections/order-views.js';
import type { Projection, Row } from '../../projections/types.js';

/**
 * The previous release's projections, for rolling-upgrade tests: the same state machine, rendering
 * documents at version 1 (before payments and the given/family name split), as the workers of that
 * release did. Built from the current code by dropping what v2 added, so the test exercises the
 * real engine with an older document shape, not a stub.
 */
function previous(p: Projection, toV1: (doc: Row) => Row): Projection {
  return { ...p, schemaVersion: 1, documents: p.documents.truncated(1), render: (id, state) => {
    const doc = p.render(id, state);
    return doc === null ? null : { ...toV1(doc), schemaVersion: 1 };
  } };
}

export const previousOrderViews = previous(orderViews, ({ payment: _payment, customer, ...rest }) => {
  const c = customer as { id: number; name: string; email: string; tier: string } | null;
  return { ...rest, customer: c === null ? null : { id: c.id, name: c.name, email: c.email, tier: c.tier } };
});

export const previousCustomerViews = previous(customerViews, ({ givenName: _g, familyName: _f, ...rest }) => rest);

export const PREVIOUS_PROJECTIONS: readonly Projection[] = [previousOrderViews, previousCustomerViews];
