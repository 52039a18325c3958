import { z } from 'zod';
import { loadSettings } from '../../config.js';
import { listDeadLetters, replayDeadLetters, showDeadLetters } from '../../dlq/dlq.js';
import { PipelineError } from '../../errors.js';
import { createKafka } from '../../kafka/client.js';
import type { Logger } from '../../logger.js';
import { parseCommandArgs, positiveInt } from '../args.js';

const USAGE = 'cdc dlq list [--json] | show TOPIC [--limit N] [--json] | replay TOPIC [--dry-run]';

export async function dlqCommand(argv: string[], log: Logger): Promise<number> {
  const [sub, ...rest] = argv;
  const kafka = createKafka(loadSettings().kafkaBrokers, 'cdc-dlq', log);
  switch (sub) {
    case 'list': {
      const { values } = parseCommandArgs(rest, { json: { type: 'boolean' } }, z.object({ json: z.boolean().optional() }), USAGE);
      const rows = await listDeadLetters(kafka);
      if (values.json === true) console.log(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) console.log('no dead-letter topics');
      else for (const r of rows) console.log(`${r.topic}  ${r.waiting} waiting, ${r.total} in all`);
      return 0;
    }
    case 'show': {
      const { values, positionals } = parseCommandArgs(
        rest,
        { limit: { type: 'string' }, json: { type: 'boolean' } },
        z.object({ limit: positiveInt.default(20), json: z.boolean().optional() }),
        USAGE,
      );
      const topic = positionals[0];
      if (topic === undefined) throw new PipelineError('CLI_USAGE', 'dlq show needs a topic', { hint: `usage: ${USAGE}` });
      const letters = await showDeadLetters(kafka, topic, values.limit);
      if (values.json === true) console.log(JSON.stringify(letters, null, 2));
      for (const l of values.json === true ? [] : letters) {
        console.log(`${topic}/${l.partition}@${l.offset}  from ${l.originalTopic}/${l.originalPartition}@${l.originalOffset}  worker ${l.workerVersion}`);
        console.log(`  ${l.kind}: ${l.reason}`);
        console.log(`  key:    ${l.key ?? 'null'}`);
        console.log(`  value:  ${(l.value ?? 'null').slice(0, 300)}`);
      }
      return 0;
    }
    case 'replay': {
      const { values, positionals } = parseCommandArgs(rest, { 'dry-run': { type: 'boolean' } }, z.object({ 'dry-run': z.boolean().optional() }), USAGE);
      const topic = positionals[0];
      if (topic === undefined) throw new PipelineError('CLI_USAGE', 'dlq replay needs a topic', { hint: `usage: ${USAGE}` });
      const dryRun = values['dry-run'] === true;
      const replayed = await replayDeadLetters(kafka, topic, dryRun);
      console.log(`${dryRun ? 'would replay' : 'replayed'} ${replayed.length} events from ${topic}`);
      for (const l of replayed.slice(0, 20)) console.log(`  ${l.originalTopic}/${l.originalPartition}@${l.originalOffset}: ${l.reason}`);
      return 0;
    }
    default:
      throw new PipelineError('CLI_USAGE', `unknown dlq command "${sub ?? ''}"`, { hint: `usage: ${USAGE}` });
  }
}
