import { z } from 'zod';
import { customerNames } from '../shop-rows.js';
import { VersionHistory } from '../versioned.js';

/** The documents of customer_views, every version ever written (see order-view.ts for the rules). */
const customerColumns = {
  customerId: z.number().int(),
  name: z.string(),
  email: z.string(),
  tier: z.string(),
  bio: z.string().nullable(),
  orderCount: z.number().int(),
  lifetimeValue: z.string().regex(/^-?\d+\.\d{2}$/),
  lastOrderAt: z.date().nullable(),
};

export const CustomerViewV1 = z.object({ schemaVersion: z.literal(1), ...customerColumns });

/** v2: given and family names beside the full name (customers split its name column). */
export const CustomerViewV2 = z.object({ schemaVersion: z.literal(2), ...customerColumns, givenName: z.string(), familyName: z.string() });

export const customerViewHistory = VersionHistory.start('customer_views document', CustomerViewV1).next(CustomerViewV2, (v1) => {
  const { givenName, familyName } = customerNames({ name: v1.name });
  return { ...v1, schemaVersion: 2 as const, givenName, familyName };
});

export type CustomerView = z.infer<typeof CustomerViewV2>;
