import type { Db } from 'mongodb';
import type pg from 'pg';
import type { Projection } from '../../projections/types.js';
import { PipelineError } from '../errors.js';
import type { StoredDoc } from '../store/documents.js';
import { componentsOf, Namespace } from '../store/generations.js';
import { PROJECTIONS } from '../../projections/registry.js';
import { compareDocuments, type VerifyReport } from './compare.js';
import { EXPECTED } from './expected.js';

/**
 * Builds the expected documents from Postgres and diffs them against the visible documents in the
 * store. Reads both whole: sized for test and operator checks, not for billions of rows.
 */
export async function verifyProjection(client: pg.ClientBase, schema: string, db: Db, projection: Projection): Promise<VerifyReport> {
  const build = EXPECTED[projection.name];
  if (build === undefined) {
    throw new PipelineError('CLI_USAGE', `no verifier for projection ${projection.name}`, { hint: `add one to pipeline/verify/expected.ts` });
  }
  // Read Postgres in one snapshot, so the expected side is consistent in itself.
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let expected: Map<string, Record<string, unknown>>;
  try {
    expected = await build(client, schema);
  } finally {
    await client.query('COMMIT');
  }
  // The generation readers use now.
  const namespace = new Namespace(db, componentsOf(PROJECTIONS));
  await namespace.refresh();
  const actual = new Map<string, unknown>();
  for await (const doc of db.collection<StoredDoc>(namespace.physical(projection.collection)).find({ _visible: true }, { projection: { _state: 0 } })) {
    actual.set(String(doc._id), doc);
  }
  return compareDocuments(projection.name, expected, actual);
}

export function formatReport(r: VerifyReport): string {
  const verdict = r.missing + r.unexpected + r.different === 0 ? 'OK: no differences' : 'DRIFT';
  const lines = [
    `${r.projection}: ${verdict}`,
    `  expected ${r.expected} documents (from Postgres), found ${r.actual} visible in the store`,
    `  missing ${r.missing}, unexpected ${r.unexpected}, different ${r.different}`,
  ];
  for (const d of r.differences) {
    lines.push(`  - ${d.kind} ${d.id}`);
    for (const f of d.fields) lines.push(`      ${f.path}: expected ${JSON.stringify(f.expected)}, found ${JSON.stringify(f.actual)}`);
  }
  return lines.join('\n');
}
