import { z } from 'zod';
import { DecimalString, Id, Jsonb, Timestamptz } from './source-values.js';

/**
 * The shop's rows as Debezium emits them (shop/migrations/). A column that Postgres may TOAST is
 * optional here: when an update leaves it untouched, Debezium sends a placeholder, which the
 * decoder removes before validation, and the projection keeps the value it already has.
 */
export const CustomerRow = z.object({
  id: Id,
  name: z.string(),
  email: z.string(),
  tier: z.enum(['standard', 'silver', 'gold']),
  bio: z.string().nullable().optional(),
  created_at: Timestamptz,
  updated_at: Timestamptz,
});

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
