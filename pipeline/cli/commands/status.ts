import { z } from 'zod';
import { PROJECTIONS } from '../../../projections/registry.js';
import { loadSettings } from '../../config.js';
import { createKafka } from '../../kafka/client.js';
import type { Logger } from '../../logger.js';
import { SHOP } from '../../shop/defaults.js';
import { formatStatus, pipelineStatus } from '../../status/pipeline-status.js';
import { connectMongo } from '../../store/mongo.js';
import { parseCommandArgs } from '../args.js';

const USAGE =
  'cdc status [--json] [--max-lag-seconds N] [--max-lag-events N] [--max-dead-letters N] [--group ID] [--schema NAME] [--topic-prefix PREFIX] [--database NAME]';

const limit = z.coerce.number().min(0).optional();

/** One screen for a human (or --json for a script); exit 2 when a threshold is exceeded, as a cron alert. */
export async function statusCommand(argv: string[], log: Logger): Promise<number> {
  const settings = loadSettings();
  const { values } = parseCommandArgs(
    argv,
    {
      json: { type: 'boolean' },
      'max-lag-seconds': { type: 'string' },
      'max-lag-events': { type: 'string' },
      'max-dead-letters': { type: 'string' },
      group: { type: 'string' },
      schema: { type: 'string' },
      'topic-prefix': { type: 'string' },
      database: { type: 'string' },
    },
    z.object({
      json: z.boolean().optional(),
      'max-lag-seconds': limit,
      'max-lag-events': limit,
      'max-dead-letters': limit,
      group: z.string().min(1).default(SHOP.consumerGroup),
      schema: z.string().min(1).default(SHOP.schema),
      'topic-prefix': z.string().min(1).default(SHOP.topicPrefix),
      database: z.string().min(1).default(settings.mongoDatabase),
    }),
    USAGE,
  );
  const mongo = await connectMongo(settings.mongoUrl);
  try {
    const status = await pipelineStatus(
      createKafka(settings.kafkaBrokers, 'cdc-status', log),
      mongo.db(values.database),
      PROJECTIONS,
      {
        groupId: values.group,
        schema: values.schema,
        topicPrefix: values['topic-prefix'],
      },
    );
    const breaches = [
      ...status.warnings,
      ...status.projections.flatMap((p) => [
        ...(values['max-lag-seconds'] !== undefined && p.lagSeconds > values['max-lag-seconds']
          ? [`${p.projection}: lag ${p.lagSeconds.toFixed(1)} s > ${values['max-lag-seconds']} s`]
          : []),
        ...(values['max-lag-events'] !== undefined && p.lagEvents > values['max-lag-events']
          ? [`${p.projection}: lag ${p.lagEvents} events > ${values['max-lag-events']}`]
          : []),
        ...(values['max-dead-letters'] !== undefined && p.deadLettersWaiting > values['max-dead-letters']
          ? [`${p.projection}: ${p.deadLettersWaiting} dead letters waiting > ${values['max-dead-letters']}`]
          : []),
      ]),
    ];
    if (values.json === true)
      console.log(
        JSON.stringify({ ...status, breaches }, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? null : v)),
      );
    else {
      console.log(formatStatus(status));
      if (breaches.length > 0) console.log(`\nTHRESHOLDS EXCEEDED\n${breaches.map((b) => `  ${b}`).join('\n')}`);
    }
    return breaches.length > 0 ? 2 : 0;
  } finally {
    await mongo.close();
  }
}
