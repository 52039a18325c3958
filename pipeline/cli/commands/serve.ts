import { z } from 'zod';
import { loadSettings } from '../../config.js';
import type { Logger } from '../../logger.js';
import { startReadService } from '../../read/service.js';
import { SHOP } from '../../shop/defaults.js';
import { parseCommandArgs, positiveInt } from '../args.js';

const USAGE = 'cdc serve [--port 8080] [--database NAME] [--no-cache] [--group ID] [--slot NAME] [--schema NAME] [--topic-prefix PREFIX]';

/** Runs the read API until SIGTERM or SIGINT. */
export async function serveCommand(argv: string[], log: Logger): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { port: { type: 'string' }, database: { type: 'string' }, 'no-cache': { type: 'boolean' }, group: { type: 'string' }, slot: { type: 'string' }, schema: { type: 'string' }, 'topic-prefix': { type: 'string' } },
    z.object({
      port: positiveInt.max(65535).default(8080),
      database: z.string().min(1).default(loadSettings().mongoDatabase),
      'no-cache': z.boolean().optional(),
      group: z.string().min(1).default(SHOP.consumerGroup),
      slot: z.string().min(1).default(SHOP.slot),
      schema: z.string().min(1).default(SHOP.schema),
      'topic-prefix': z.string().min(1).default(SHOP.topicPrefix),
    }),
    USAGE,
  );
  const service = await startReadService(
    {
      port: values.port,
      database: values.database,
      ...(values['no-cache'] === true ? { redis: false as const } : {}),
      readYourWrites: { groupId: values.group, slot: values.slot, schema: values.schema, topicPrefix: values['topic-prefix'] },
    },
    log,
  );
  console.log(`read API on ${service.url}: try ${service.url}/orders/1, ${service.url}/customers/1/orders, ${service.url}/openapi.json`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await service.close();
  return 0;
}
