import { z } from 'zod';
import { VersionHistory } from '../schemas/versioned.js';
import { liveRows } from './fold.js';
import { slotKey, type Projection, type Row } from './types.js';

const OrderRowsV1 = z.object({
  schemaVersion: z.literal(1),
  id: z.number().int(),
  customer_id: z.number().int(),
  status: z.string(),
  currency: z.string(),
  note: z.string().nullable(),
  placed_at: z.string(),
  updated_at: z.string(),
});

/**
 * The same fields. Version 2 is where the engine began storing a one-row document's row once
 * (pipeline/store/stored-state.ts): a worker of version 1 would read such a slot as holding no row,
 * so the bump makes it refuse these documents during a rolling upgrade instead.
 */
const OrderRowsV2 = OrderRowsV1.extend({ schemaVersion: z.literal(2) });

/**
 * order_rows: one document per order row, its columns as they are. The benchmark's W1: the same
 * one-table copy the MongoDB Kafka sink connector makes, so the two can be compared document for
 * document (cdc bench compare). Not in the shop's registry.
 */
export const orderRows: Projection = {
  name: 'order_rows',
  collection: 'order_rows',
  schemaVersion: 2,
  documents: VersionHistory.start('order_rows document', OrderRowsV1).next(OrderRowsV2, (v1) => ({ ...v1, schemaVersion: 2 as const })),
  sources: {
    orders: (c) => [{ docId: Number(c.id), slot: slotKey('orders', c.id), row: c.op === 'delete' ? null : c.row, position: c.position, unavailable: c.unavailable }],
  },
  references: {},
  derivedFrom: [],
  referencesOf: () => [],
  render: (_id, state): Row | null => {
    const [row] = liveRows(state, 'orders');
    return row === undefined ? null : { schemaVersion: 2, ...row };
  },
};
