import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../config.js';
import { logContains, startDetached, waitUntil } from '../processes.js';
import { jarVersion, logFile, pidFile, stackPath, type Component } from '../component.js';
import { classpath, ensureJavaAndJars, JAVA } from './java.js';

/**
 * mongo-java-server with its H2 file backend: a MongoDB wire-protocol server (MongoDB 4.2 wire
 * version), because mongod cannot be installed on this kind of machine. docker-compose.yml uses the
 * real mongo image instead; the project relies only on behaviour both share.
 */
/**
 * The launcher orders index keys and document _ids by BSON order instead of H2's serialized-bytes
 * order, and stores documents as BSON instead of Java-serialized, which a file written otherwise
 * does not share: hence a file name of its own per layout ("store.mv" was the stock one,
 * "store-bson-keys.mv" had only index keys in BSON order, "store-bson-ids.mv" Java-serialized
 * documents; leftovers are not read and can be deleted).
 */
const DATA_FILE = 'store-bson-docs.mv';
/**
 * MVStore page cache; H2's default of 16 MB re-deserializes most pages of a large collection. The
 * launcher sizes cached documents by their heap objects (about 3.7 KB for an `order_rows`
 * document), so this is real heap, within the 3 GB below. (With Java-serialized documents H2 sized
 * them by their serialized bytes, about a third of that, and its 768 MB held far more.)
 */
const PAGE_CACHE_MB = 2048;

export const store: Component = {
  name: 'store',
  description: 'document store: mongo-java-server (H2 file backend), MongoDB wire protocol',
  stopSignal: 'SIGTERM',
  port: (ctx) => ctx.settings.env.MONGO_PORT,

  async install(ctx) {
    ensureJavaAndJars(ctx, 'store');
  },

  async start(ctx) {
    const log = logFile(ctx, 'store');
    const dataDir = stackPath(ctx, 'data', 'store');
    mkdirSync(dataDir, { recursive: true });
    const { MONGO_HOST, MONGO_PORT } = ctx.settings.env;
    const pid = startDetached({
      command: JAVA,
      args: [
        '-Xms256m',
        // The store keeps hot pages of every collection on the heap: at 1 GiB a 500k-event drain
        // spent its time in GC (and a client's monitor timed out). The page cache takes 2 GB of it.
        '-Xmx3g',
        '-XX:+UseG1GC',
        '-cp',
        classpath(ctx, 'store'),
        join(PROJECT_ROOT, 'stack', 'store', 'MongoStoreLauncher.java'),
        MONGO_HOST,
        String(MONGO_PORT),
        join(dataDir, DATA_FILE),
        String(PAGE_CACHE_MB),
      ],
      pidFile: pidFile(ctx, 'store'),
      logFile: log,
    });
    // It opens every database of the file before it listens: over a minute with a few million documents.
    await waitUntil(() => logContains(log, /mongo-java-server ready on/), { what: 'store', timeoutMs: 240_000, pid, logFile: log });
    return pid;
  },

  version: (ctx) => `mongo-java-server ${jarVersion(stackPath(ctx, 'lib', 'store'), 'mongo-java-server')}`,
};
