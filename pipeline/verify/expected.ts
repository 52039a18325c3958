import type pg from 'pg';
import type { CustomerView } from '../../projections/customer-views.js';
import type { OrderView } from '../../projections/order-views.js';
import { ident } from '../postgres/sql.js';
import { customerNameShape } from '../shop/migrate.js';

/**
 * The documents each projection should hold, built straight from Postgres with SQL: a second,
 * independent implementation of the projection, so a bug in one shows up as a difference.
 */
/**
 * The customer's given and family names as SQL over alias `c`, for either shape of customers
 * (before and after migration 004), split by the same rule as the migration's backfill.
 */
async function customerNameColumns(client: pg.ClientBase, schema: string): Promise<string> {
  const [given, family] =
    (await customerNameShape(client, schema)) === 'split'
      ? ['c.given_name', 'c.family_name']
      : ["split_part(c.name, ' ', 1)", "CASE WHEN position(' ' IN c.name) > 0 THEN substr(c.name, position(' ' IN c.name) + 1) ELSE '' END"];
  return `${given} AS given_name, ${family} AS family_name,
          CASE WHEN ${family} = '' THEN ${given} ELSE ${given} || ' ' || ${family} END AS name`;
}

export type ExpectedBuilder = (client: pg.ClientBase, schema: string) => Promise<Map<string, Record<string, unknown>>>;

async function orderViews(client: pg.ClientBase, schema: string): Promise<Map<string, Record<string, unknown>>> {
  const s = ident(schema);
  const { rows } = await client.query<{
    id: string; customer_id: string; status: string; currency: string; note: string | null; placed_at: Date; updated_at: Date;
    name: string | null; given_name: string | null; family_name: string | null; email: string | null; tier: string | null;
    lines: OrderView['lines']; item_count: string; amount: string;
    authorized: string; captured: string; refunded: string; any_authorized: boolean | null; any_captured: boolean | null; any_refunded: boolean | null;
  }>(`
    SELECT o.id, o.customer_id, o.status, o.currency, o.note, o.placed_at, o.updated_at, c.given_name, c.family_name, c.name, c.email, c.tier,
           pay.authorized, pay.captured, pay.refunded, pay.any_authorized, pay.any_captured, pay.any_refunded,
           coalesce(l.lines, '[]'::json) AS lines, coalesce(l.item_count, 0) AS item_count, coalesce(l.amount, 0)::numeric(14,2)::text AS amount
      FROM ${s}.orders o
      LEFT JOIN (SELECT c.id, c.email, c.tier, ${await customerNameColumns(client, schema)} FROM ${s}.customers c) c ON c.id = o.customer_id
      LEFT JOIN LATERAL (
        SELECT coalesce(sum(p.amount) FILTER (WHERE p.kind = 'authorized'), 0)::numeric(14,2)::text AS authorized,
               coalesce(sum(p.amount) FILTER (WHERE p.kind = 'captured'), 0)::numeric(14,2)::text AS captured,
               coalesce(sum(p.amount) FILTER (WHERE p.kind = 'refunded'), 0)::numeric(14,2)::text AS refunded,
               bool_or(p.kind = 'authorized') AS any_authorized, bool_or(p.kind = 'captured') AS any_captured, bool_or(p.kind = 'refunded') AS any_refunded
          FROM ${s}.payments p WHERE p.order_id = o.id) pay ON true
      LEFT JOIN LATERAL (
        SELECT json_agg(json_build_object(
                 'lineId', ol.id, 'productId', ol.product_id, 'sku', p.sku, 'productName', p.name, 'quantity', ol.quantity,
                 'unitPrice', ol.unit_price::text, 'lineTotal', (ol.unit_price * ol.quantity)::numeric(14,2)::text) ORDER BY ol.id) AS lines,
               sum(ol.quantity) AS item_count, sum(ol.unit_price * ol.quantity) AS amount
          FROM ${s}.order_lines ol LEFT JOIN ${s}.products p ON p.id = ol.product_id
         WHERE ol.order_id = o.id) l ON true`);
  const expected = new Map<string, Record<string, unknown>>();
  for (const r of rows) {
    const view: OrderView = {
      schemaVersion: 2,
      orderId: Number(r.id),
      status: r.status,
      currency: r.currency,
      note: r.note,
      placedAt: r.placed_at,
      updatedAt: r.updated_at,
      customerId: Number(r.customer_id),
      customer:
        r.name === null
          ? null
          : { id: Number(r.customer_id), name: r.name, givenName: r.given_name ?? '', familyName: r.family_name ?? '', email: r.email ?? '', tier: r.tier ?? '' },
      lines: r.lines,
      totals: { itemCount: Number(r.item_count), amount: r.amount },
      payment: {
        status: r.any_refunded === true ? 'refunded' : r.any_captured === true ? 'captured' : r.any_authorized === true ? 'authorized' : 'none',
        authorized: r.authorized,
        captured: r.captured,
        refunded: r.refunded,
      },
    };
    expected.set(r.id, view);
  }
  return expected;
}

async function customerViews(client: pg.ClientBase, schema: string): Promise<Map<string, Record<string, unknown>>> {
  const s = ident(schema);
  const { rows } = await client.query<{
    id: string; name: string; given_name: string; family_name: string; email: string; tier: string; bio: string | null;
    order_count: string; lifetime: string; last_order_at: Date | null;
  }>(`
    SELECT c.id, ${await customerNameColumns(client, schema)}, c.email, c.tier, c.bio, count(o.id) AS order_count,
           coalesce(sum(t.amount), 0)::numeric(14,2)::text AS lifetime, max(o.placed_at) AS last_order_at
      FROM ${s}.customers c
      LEFT JOIN ${s}.orders o ON o.customer_id = c.id
      LEFT JOIN LATERAL (SELECT coalesce(sum(ol.unit_price * ol.quantity), 0) AS amount FROM ${s}.order_lines ol WHERE ol.order_id = o.id) t ON true
     GROUP BY c.id`);
  const expected = new Map<string, Record<string, unknown>>();
  for (const r of rows) {
    const view: CustomerView = {
      schemaVersion: 2,
      customerId: Number(r.id),
      name: r.name,
      givenName: r.given_name,
      familyName: r.family_name,
      email: r.email,
      tier: r.tier,
      bio: r.bio,
      orderCount: Number(r.order_count),
      lifetimeValue: r.lifetime,
      lastOrderAt: r.last_order_at,
    };
    expected.set(r.id, view);
  }
  return expected;
}

export const EXPECTED: Record<string, ExpectedBuilder> = { order_views: orderViews, customer_views: customerViews };
