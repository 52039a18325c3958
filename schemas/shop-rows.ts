import { z } from 'zod';
import { DecimalString, Id, Jsonb, Timestamptz } from './source-values.js';

/**
 * The shop's rows as Debezium emits them (shop/migrations/). A column that Postgres may TOAST is
 * optional here: when an update leaves it untouched, Debezium sends a placeholder, which the
 * decoder removes before validation, and the projection keeps the value it already has.
 */
const customerColumns = {
  id: Id,
  email: z.string(),
  tier: z.enum(['standard', 'silver', 'gold']),
  bio: z.string().nullable().optional(),
  created_at: Timestamptz,
  updated_at: Timestamptz,
};

/** customers before migration 004: one `name` column. */
export const CustomerRowV1 = z.object({ ...customerColumns, name: z.string() });
/** customers from migration 004 on: `given_name` and `family_name` (the backfill carries all three). */
export const CustomerRowV2 = z.object({ ...customerColumns, given_name: z.string(), family_name: z.string() });

/**
 * How a one-column name splits, the same rule migration 004's backfill applies: up to the first
 * space, and the rest. Used for rows of either shape, including copies stored before the split.
 */
export function customerNames(row: { name?: unknown; given_name?: unknown; family_name?: unknown }): { givenName: string; familyName: string; name: string } {
  if (typeof row.given_name === 'string') {
    const familyName = typeof row.family_name === 'string' ? row.family_name : '';
    return { givenName: row.given_name, familyName, name: familyName === '' ? row.given_name : `${row.given_name} ${familyName}` };
  }
  const name = typeof row.name === 'string' ? row.name : '';
  const space = name.indexOf(' ');
  const givenName = space < 0 ? name : name.slice(0, space);
  const familyName = space < 0 ? '' : name.slice(space + 1);
  return { givenName, familyName, name: familyName === '' ? givenName : `${givenName} ${familyName}` };
}

/**
 * A customers row of either shape, upcast to the current one: events from before and after the
 * migration (and a replay of both) project the same way.
 */
export const CustomerRow = z.union([
  CustomerRowV2,
  CustomerRowV1.transform(({ name, ...rest }) => {
    const names = customerNames({ name });
    return { ...rest, given_name: names.givenName, family_name: names.familyName };
  }),
]);

export const ProductRow = z.object({
  id: Id,
  sku: z.string(),
  name: z.string(),
  price: DecimalString,
  attributes: Jsonb.optional(),
  description: z.string().nullable().optional(),
  updated_at: Timestamptz,
});

export const OrderRow = z.object({
  id: Id,
  customer_id: Id,
  status: z.enum(['pending', 'paid', 'shipped', 'cancelled']),
  currency: z.string(),
  note: z.string().nullable(),
  placed_at: Timestamptz,
  updated_at: Timestamptz,
});

export const OrderLineRow = z.object({
  id: Id,
  order_id: Id,
  product_id: Id,
  quantity: z.number().int(),
  unit_price: DecimalString,
});

export type CustomerRow = z.infer<typeof CustomerRow>;
export type ProductRow = z.infer<typeof ProductRow>;
export type OrderRow = z.infer<typeof OrderRow>;
export type OrderLineRow = z.infer<typeof OrderLineRow>;

export const KeySchema = z.object({ id: Id });

/**
 * Per captured table: its row schema and replica identity. With DEFAULT identity a delete's
 * `before` holds the real key but type defaults elsewhere, so only the key may be used; with FULL
 * (order_lines, so a deleted line can be routed to its order) the whole old row is real.
 */
export const SHOP_TABLES = {
  customers: { row: CustomerRow, identity: 'default' },
  products: { row: ProductRow, identity: 'default' },
  orders: { row: OrderRow, identity: 'default' },
  order_lines: { row: OrderLineRow, identity: 'full' },
} as const;

export type ShopTable = keyof typeof SHOP_TABLES;
