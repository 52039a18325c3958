import { z } from 'zod';
import { loadSettings } from '../../config.js';
import type { Logger } from '../../logger.js';
import { SHOP } from '../../shop/defaults.js';
import { runWorker } from '../../worker/run-worker.js';
import { parseCommandArgs } from '../args.js';

const USAGE = 'cdc run [--group ID]';

/** Runs the projector until SIGTERM or SIGINT, then finishes the batch in flight and leaves the group. */
export async function runCommand(argv: string[], log: Logger): Promise<number> {
  const { values } = parseCommandArgs(argv, { group: { type: 'string' } }, z.object({ group: z.string().min(1).default(SHOP.consumerGroup) }), USAGE);
  const worker = await runWorker(
    { topicPrefix: SHOP.topicPrefix, schema: SHOP.schema, groupId: values.group, mongoDatabase: loadSettings().mongoDatabase },
    log,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('stopping: finishing the batch in flight');
  await worker.stop();
  return 0;
}
