import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PROJECTIONS, projectionByName } from '../../../projections/registry.js';
import type { Projection } from '../../../projections/types.js';
import { toJsonSchema } from '../../../schemas/documents/json-schema.js';
import { loadSettings, PROJECT_ROOT } from '../../config.js';
import { Projector } from '../../engine/projector.js';
import { PipelineError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { ReadModel } from '../../read/read-models.js';
import { componentsOf, Namespace } from '../../store/generations.js';
import { DocumentStore } from '../../store/documents.js';
import { connectMongo } from '../../store/mongo.js';
import { upgradeDocuments } from '../../store/upgrade-documents.js';
import { parseCommandArgs } from '../args.js';

const NAMES = PROJECTIONS.map((p) => p.name).join('|');
const USAGE = [
  `cdc documents upgrade <${NAMES}|all> [--database NAME]   rewrite documents stored below the current schemaVersion`,
  `cdc documents read <${NAMES}> ID [--database NAME]       one document as readers see it (upcast, validated)`,
  `cdc documents schemas [--write]                          the document JSON Schemas (--write: into schemas/json/)`,
].join('\n       ');

export const JSON_SCHEMA_DIR = join(PROJECT_ROOT, 'schemas', 'json');

/** Every version of every projection's document, as JSON Schema files by name. */
export function documentJsonSchemas(): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const p of PROJECTIONS) {
    for (let v = 1; v <= p.documents.current; v++) out.set(`${p.collection}.v${v}.schema.json`, toJsonSchema(p.documents.schemaOf(v) as z.ZodType, `${p.collection} v${v}`));
  }
  return out;
}

function chosen(name: string | undefined, allowAll: boolean): Projection[] {
  const list = name === 'all' && allowAll ? [...PROJECTIONS] : [projectionByName(name ?? '')].filter((p) => p !== undefined);
  if (list.length === 0) throw new PipelineError('CLI_USAGE', `unknown projection "${name ?? ''}"`, { hint: `usage: ${USAGE}` });
  return list;
}

export async function documentsCommand(argv: string[], _log: Logger): Promise<number> {
  const settings = loadSettings();
  const { values, positionals } = parseCommandArgs(
    argv,
    { database: { type: 'string' }, write: { type: 'boolean' } },
    z.object({ database: z.string().min(1).default(settings.mongoDatabase), write: z.boolean().optional() }),
    USAGE,
  );
  const [sub, name, id] = positionals;
  if (sub === 'schemas') {
    const schemas = documentJsonSchemas();
    if (values.write !== true) {
      console.log(JSON.stringify(Object.fromEntries(schemas), null, 2));
      return 0;
    }
    mkdirSync(JSON_SCHEMA_DIR, { recursive: true });
    for (const [file, schema] of schemas) writeFileSync(join(JSON_SCHEMA_DIR, file), `${JSON.stringify(schema, null, 2)}\n`);
    console.log(`wrote ${schemas.size} schemas into ${JSON_SCHEMA_DIR}`);
    return 0;
  }
  if (sub !== 'upgrade' && sub !== 'read') throw new PipelineError('CLI_USAGE', `unknown subcommand "${sub ?? ''}"`, { hint: `usage: ${USAGE}` });
  const mongo = await connectMongo(settings.mongoUrl);
  try {
    const db = mongo.db(values.database);
    // The generation readers and live workers use now.
    const namespace = new Namespace(db, componentsOf(PROJECTIONS));
    await namespace.refresh();
    if (sub === 'read') {
      const [projection] = chosen(name, false) as [Projection];
      if (id === undefined || !/^\d+$/.test(id)) throw new PipelineError('CLI_USAGE', 'which document? give its numeric id', { hint: `usage: ${USAGE}` });
      const { found } = await new ReadModel(db, projection, undefined, namespace).get(Number(id));
      if (found === null) {
        console.error(`${projection.name} has no visible document ${id}`);
        return 1;
      }
      console.log(JSON.stringify({ storedVersion: found.storedVersion, document: found.doc }, null, 2));
      return 0;
    }
    const store = new DocumentStore(db, namespace);
    const projector = new Projector(store, PROJECTIONS);
    for (const projection of chosen(name, true)) {
      const report = await upgradeDocuments(store, projector, projection);
      console.log(`${report.collection}: ${report.older} documents below v${projection.schemaVersion}, ${report.rewritten} rewritten`);
    }
    return 0;
  } finally {
    await mongo.close();
  }
}
