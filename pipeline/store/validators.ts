import { MongoServerError, type Db } from 'mongodb';
import type { Projection } from '../../projections/types.js';
import { mongoValidator, toJsonSchema } from '../../schemas/documents/json-schema.js';
import type { ZodType } from 'zod';
import type { Logger } from '../logger.js';

const COMMAND_NOT_FOUND = 59;

/**
 * Installs each projection's document schema as a collection validator (collMod, creating the
 * collection first). mongo-java-server has no collMod and ignores validators given at create time,
 * so there the checks are the reader's (zod, on every read) and the unit tests that hold every
 * rendering to the current schema: logged once at start.
 */
export async function applyValidators(db: Db, projections: readonly Projection[], log: Logger, physical: (collection: string) => string = (c) => c): Promise<'applied' | 'unsupported'> {
  for (const p of projections) {
    const versions = Array.from({ length: p.documents.current }, (_, i) => toJsonSchema(p.documents.schemaOf(i + 1) as ZodType, `${p.collection} v${i + 1}`));
    const validator = mongoValidator(versions);
    const name = physical(p.collection);
    const [existing] = await db.listCollections({ name }).toArray();
    if (existing === undefined) await db.createCollection(name).catch(() => undefined);
    const installed = validatorVersions((existing as { options?: { validator?: unknown } } | undefined)?.options?.validator);
    if (installed > versions.length) {
      log.info({ collection: name, installed, ours: versions.length, event: 'validator_kept' }, 'a newer release installed this validator: kept (an older worker never narrows it)');
      continue;
    }
    try {
      await db.command({ collMod: name, validator, validationLevel: 'moderate', validationAction: 'error' });
    } catch (err) {
      if (err instanceof MongoServerError && err.code === COMMAND_NOT_FOUND) {
        log.info({ event: 'validators_unsupported' }, 'the store has no collMod: document validation stays in the workers');
        return 'unsupported';
      }
      throw err;
    }
  }
  return 'applied';
}

/**
 * How many document versions an installed validator accepts (0: none installed). During a rolling
 * upgrade an older worker that restarts would otherwise replace a newer release's validator with
 * its own and make the store refuse the newer workers' writes.
 */
export function validatorVersions(validator: unknown): number {
  const alternatives = (validator as { $or?: unknown } | undefined)?.$or;
  return Array.isArray(alternatives) ? alternatives.filter((a) => typeof a === 'object' && a !== null && '$jsonSchema' in a).length : 0;
}
