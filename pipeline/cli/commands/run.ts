import { z } from 'zod';
import { loadSettings } from '../../config.js';
import type { Logger } from '../../logger.js';
import { SHOP } from '../../shop/defaults.js';
import { runWorker } from '../../worker/run-worker.js';
import { parseCommandArgs } from '../args.js';

const USAGE = 'cdc run [--group ID] [--schema NAME] [--topic-prefix PREFIX] [--database NAME] [--metrics-port N (9464; 0: any)] [--round-changes N (80000)]';

/** Runs the projector until SIGTERM or SIGINT, then finishes the batch in flight and leaves the group. */
export async function runCommand(argv: string[], log: Logger): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { group: { type: 'string' }, schema: { type: 'string' }, 'topic-prefix': { type: 'string' }, database: { type: 'string' }, 'metrics-port': { type: 'string' }, 'round-changes': { type: 'string' } },
    z.object({
      group: z.string().min(1).default(SHOP.consumerGroup),
      schema: z.string().min(1).default(SHOP.schema),
      'topic-prefix': z.string().min(1).default(SHOP.topicPrefix),
      database: z.string().min(1).default(loadSettings().mongoDatabase),
      'metrics-port': z.coerce.number().int().min(0).max(65535).default(loadSettings().env.METRICS_PORT),
      // Larger rounds coalesce more writes (faster backlog drains) and hold more documents in memory.
      'round-changes': z.coerce.number().int().min(1).optional(),
    }),
    USAGE,
  );
  const worker = await runWorker({ topicPrefix: values['topic-prefix'], schema: values.schema, groupId: values.group, mongoDatabase: values.database, metricsPort: values['metrics-port'], ...(values['round-changes'] === undefined ? {} : { maxRoundChanges: values['round-changes'] }) }, log);
  console.log(`projector running; metrics on ${worker.metricsUrl ?? '(off)'}/metrics`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('stopping: finishing the batch in flight');
  await worker.stop();
  return 0;
}
