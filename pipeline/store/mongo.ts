import { MongoClient } from 'mongodb';
import { PipelineError } from '../errors.js';

/**
 * The local store reports MongoDB 4.2's wire version (8): the 6.x driver is the newest that talks
 * to it, and is fully supported against real MongoDB too.
 */
export async function connectMongo(url: string): Promise<MongoClient> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000, maxPoolSize: 16 });
  try {
    await client.connect();
    return client;
  } catch (cause) {
    await client.close().catch(() => undefined);
    throw new PipelineError('COMPONENT_NOT_RUNNING', `the document store at ${url} did not answer`, {
      cause,
      retriable: true,
      hint: 'start it with cdc stack up, or set MONGO_URL',
    });
  }
}
