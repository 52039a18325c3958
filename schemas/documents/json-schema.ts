import { z } from 'zod';

type Json = Record<string, unknown>;

/**
 * A document schema as JSON Schema (draft 2020-12), generated from its zod schema: what other
 * teams and tools read. Dates are strings with format date-time here (BSON dates in the store).
 * Generated as the input side, so fields a newer version adds are allowed (additive versions).
 */
export function toJsonSchema(schema: z.ZodType, title: string): Json {
  const generated = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema._zod.def.type === 'date') Object.assign(ctx.jsonSchema, { type: 'string', format: 'date-time' });
    },
  }) as Json;
  return { ...generated, title };
}

/**
 * Every version's schema in MongoDB's $jsonSchema dialect (bsonType, no $schema, format or
 * const), for a collection validator: a document of any known version passes (older workers write
 * during a rolling upgrade), and so does an invisible document (state only, no public fields).
 */
export function mongoValidator(jsonSchemas: Json[]): Json {
  return { $or: [{ _visible: false }, ...jsonSchemas.map((s) => ({ $jsonSchema: toMongo(s) }))] };
}

function toMongo(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toMongo);
  if (node === null || typeof node !== 'object') return node;
  const out: Json = {};
  const src = node as Json;
  for (const [key, value] of Object.entries(src)) {
    if (key === '$schema' || key === 'format' || key === 'title' || key === 'minimum' || key === 'maximum') continue;
    if (key === 'const') out['enum'] = [value];
    else if (key === 'type') {
      const bson = ({ integer: ['int', 'long'], number: ['int', 'long', 'double', 'decimal'], string: src['format'] === 'date-time' ? 'date' : 'string', boolean: 'bool', null: 'null', object: 'object', array: 'array' } as Json)[String(value)];
      out['bsonType'] = bson ?? value;
    } else out[key] = toMongo(value);
  }
  return out;
}
