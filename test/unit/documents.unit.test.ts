import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { documentJsonSchemas, JSON_SCHEMA_DIR } from '../../pipeline/cli/commands/documents.js';
import { PipelineError } from '../../pipeline/errors.js';
import { readDocument } from '../../pipeline/read/document-reader.js';
import { validatorVersions } from '../../pipeline/store/validators.js';
import { mongoValidator } from '../../schemas/documents/json-schema.js';
import { orderViewHistory } from '../../schemas/documents/order-view.js';
import type { VersionHistory } from '../../schemas/versioned.js';

const v1Doc = {
  _id: 1, _rev: 3, _visible: true, _state: { slots: {} }, _refKeys: [],
  schemaVersion: 1, orderId: 1, status: 'paid', currency: 'EUR', note: null, placedAt: new Date(0), updatedAt: new Date(0), customerId: 2,
  customer: { id: 2, name: 'Ada Lovelace', email: 'a@x', tier: 'gold' }, lines: [], totals: { itemCount: 0, amount: '0.00' },
};
const v2Doc = { ...v1Doc, schemaVersion: 2, customer: { id: 2, name: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace', email: 'a@x', tier: 'gold' }, payment: { status: 'captured', authorized: '1.00', captured: '1.00', refunded: '0.00' } };

describe('the typed document reader', () => {
  test('serves a v1 document upcast to v2, without internal fields', () => {
    const read = readDocument(orderViewHistory, 'order_views', v1Doc);
    expect(read.storedVersion).toBe(1);
    expect(read.doc).toMatchObject({ schemaVersion: 2, customer: { givenName: 'Ada', familyName: 'Lovelace' }, payment: { status: 'none' } });
    expect(read.doc).not.toHaveProperty('_state');
  });

  test('a reader one release behind reads a newer document through its own newest schema', () => {
    const previous = orderViewHistory.truncated(1) as VersionHistory<Record<string, unknown>>;
    const read = readDocument(previous, 'order_views', v2Doc);
    expect(read.storedVersion).toBe(2);
    expect(read.doc).toMatchObject({ schemaVersion: 1, customer: { name: 'Ada Lovelace' } });
    expect(read.doc).not.toHaveProperty('payment');
  });

  test('a document that matches no version is an error that names it', () => {
    expect(() => readDocument(orderViewHistory, 'order_views', { ...v2Doc, totals: { itemCount: 'x' } })).toThrow(PipelineError);
    expect(() => readDocument(orderViewHistory, 'order_views', { ...v2Doc, totals: { itemCount: 'x' } })).toThrow(/order_views document 1 \(schemaVersion 2\) failed validation: .*totals/);
  });
});

describe('published JSON Schemas', () => {
  test('schemas/json matches the zod schemas (run: cdc documents schemas --write)', () => {
    for (const [file, schema] of documentJsonSchemas()) {
      expect({ file, schema: JSON.parse(readFileSync(join(JSON_SCHEMA_DIR, file), 'utf8')) as unknown }).toEqual({ file, schema });
    }
  });

  test('the store validator accepts every known version and invisible documents, in MongoDB dialect', () => {
    const validator = mongoValidator([...documentJsonSchemas().entries()].filter(([f]) => f.startsWith('order_views')).map(([, s]) => s));
    const text = JSON.stringify(validator);
    expect(validator['$or']).toHaveLength(3);
    expect(text).not.toMatch(/"\$schema"|"format"|"const"|"type":"integer"/);
    expect(text).toContain('"placedAt":{"bsonType":"date"}');
  });

  test("an installed validator's versions are counted, so an older worker never narrows a newer release's", () => {
    const schemas = [...documentJsonSchemas().entries()].filter(([f]) => f.startsWith('order_views')).map(([, s]) => s);
    expect(validatorVersions(mongoValidator(schemas))).toBe(schemas.length);
    expect(validatorVersions(mongoValidator(schemas.slice(0, 1)))).toBe(1);
    expect(validatorVersions(undefined)).toBe(0);
    expect(validatorVersions({ $jsonSchema: {} })).toBe(0);
  });
});
