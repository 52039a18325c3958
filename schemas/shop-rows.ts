import { z } from 'zod';
import { changeEnvelope, Id, Timestamptz } from './debezium.js';

/** shop.orders as Debezium emits it (shop/migrations/001_shop.sql). */
export const OrderRowSchema = z.object({
  id: Id,
  customer_id: Id,
  status: z.string(),
  currency: z.string(),
  note: z.string().nullable(),
  placed_at: Timestamptz,
  updated_at: Timestamptz,
});
export type OrderRow = z.infer<typeof OrderRowSchema>;

export const OrderKeySchema = z.object({ id: Id });
export const OrderChangeSchema = changeEnvelope(OrderRowSchema);
export type OrderChange = z.infer<typeof OrderChangeSchema>;
