import { z } from 'zod';
import { PROJECTIONS } from '../../../projections/registry.js';
import { loadSettings } from '../../config.js';
import { limitHeapGrowth } from '../../engine/round-sizer.js';
import { PipelineError } from '../../errors.js';
import { createKafka } from '../../kafka/client.js';
import type { Logger } from '../../logger.js';
import { ProgressDisplay } from '../../replay/progress-display.js';
import { readReplay } from '../../replay/replay-lease.js';
import { dropPrevious, generationCollections, planReplay, replay, type ReplayTarget } from '../../replay/rebuild.js';
import { SHOP } from '../../shop/defaults.js';
import { componentsOf, readPointer } from '../../store/generations.js';
import { connectMongo } from '../../store/mongo.js';
import { parseCommandArgs } from '../args.js';

const NAMES = PROJECTIONS.map((p) => p.name).join('|');
const USAGE = `cdc replay <${NAMES}> [--source topics|snapshot] [--dry-run] [--restart] [--rollback] [--drop-previous] [--memory-docs N] [--round-changes N] [--catch-up-lag N] [--group LIVE_GROUP] [--schema NAME] [--topic-prefix PREFIX] [--database NAME]
       cdc replay status [--json] [--database NAME]`;

/**
 * Rebuilds a projection (with the projections it is switched together with) into a new generation
 * from the CDC topics while the live one keeps serving, then switches readers in one step.
 */
export async function replayCommand(argv: string[], log: Logger): Promise<number> {
  limitHeapGrowth(false);
  const settings = loadSettings();
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      'dry-run': { type: 'boolean' },
      restart: { type: 'boolean' },
      rollback: { type: 'boolean' },
      'drop-previous': { type: 'boolean' },
      json: { type: 'boolean' },
      group: { type: 'string' },
      schema: { type: 'string' },
      'topic-prefix': { type: 'string' },
      database: { type: 'string' },
      'catch-up-lag': { type: 'string' },
      'memory-docs': { type: 'string' },
      'round-changes': { type: 'string' },
      source: { type: 'string' },
    },
    z.object({
      'dry-run': z.boolean().optional(),
      restart: z.boolean().optional(),
      rollback: z.boolean().optional(),
      'drop-previous': z.boolean().optional(),
      json: z.boolean().optional(),
      group: z.string().min(1).default(SHOP.consumerGroup),
      schema: z.string().min(1).default(SHOP.schema),
      'topic-prefix': z.string().min(1).default(SHOP.topicPrefix),
      database: z.string().min(1).default(settings.mongoDatabase),
      'catch-up-lag': z.coerce.number().int().min(0).optional(),
      'memory-docs': z.coerce.number().int().min(1).optional(),
      'round-changes': z.coerce.number().int().min(1).optional(),
      source: z.enum(['topics', 'snapshot']).default('topics'),
    }),
    USAGE,
  );
  const name = positionals[0];
  if (name === undefined) throw new PipelineError('CLI_USAGE', 'which projection?', { hint: `usage: ${USAGE}` });
  const mongo = await connectMongo(settings.mongoUrl);
  const db = mongo.db(values.database);
  try {
    if (name === 'status') return await status(db, values.json === true);
    if (!PROJECTIONS.some((p) => p.name === name)) throw new PipelineError('CLI_USAGE', `unknown projection "${name}"`, { hint: `usage: ${USAGE}` });
    const target: ReplayTarget = { projection: name, topicPrefix: values['topic-prefix'], schema: values.schema, liveGroup: values.group, mongoDatabase: values.database, source: values.source };
    if (values['drop-previous'] === true) {
      const dropped = await dropPrevious(target, db);
      console.log(dropped === null ? 'no previous generation to remove' : `removed generation ${dropped}; there is nothing to roll back to now`);
      return 0;
    }
    const kafka = createKafka(settings.kafkaBrokers, `cdc-replay-${process.pid}`, log);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const mode = values.rollback === true ? 'rollback' : 'rebuild';
      if (values['dry-run'] === true) {
        const plan = await planReplay(target, db, admin);
        const next = mode === 'rollback' ? plan.previous : plan.resumes;
        console.log(
          [
            `${mode} of ${plan.component.key} (${plan.component.projections.length > 1 ? 'switched together: one derives from or shares rows with the other' : 'one projection'})`,
            `  readers use generation ${plan.active}${plan.previous === null ? '' : `; generation ${plan.previous} is kept for a rollback`}`,
            mode === 'rollback'
              ? next === null
                ? '  nothing to roll back to: no previous generation'
                : `  would catch generation ${next} up from where it stopped being written, then switch readers back to it`
              : plan.resumes !== null && values.restart !== true
                ? `  would resume generation ${plan.resumes} (${plan.state?.phase ?? ''}) from consumer group ${plan.state?.group ?? ''}`
                : plan.previous !== null
                  ? `  would refuse: generation ${plan.previous} is still kept for a rollback (--drop-previous first)`
                  : values.source === 'snapshot'
                    ? '  would build a new generation from a Debezium incremental snapshot of the row tables (signal table), reading event topics from the start'
                    : '  would build a new generation from the earliest offsets, with a consumer group of its own',
            `  reads ${plan.topics.length} topics, ${plan.backlog.toLocaleString('en-US')} events in them now: ${plan.topics.join(', ')}`,
            `  writes ${generationCollections(plan.component, next ?? 0).length} collections per generation: ${plan.component.collections.join(', ')} (suffixed __g<N>)`,
            `  then moves the pointer in ${'_generations'} and waits for the live group ${values.group} to follow`,
          ].join('\n'),
        );
        return 0;
      }
      const controller = new AbortController();
      const stop = () => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const display = new ProgressDisplay(process.stdout);
      const result = await replay(target, { db, admin, log, display, signal: controller.signal, restart: values.restart === true, ...(values['catch-up-lag'] === undefined ? {} : { catchUpLag: values['catch-up-lag'] }), ...(values['memory-docs'] === undefined ? {} : { stagingBudget: values['memory-docs'] }), ...(values['round-changes'] === undefined ? {} : { maxRoundChanges: values['round-changes'] }) }, mode);
      if (result.outcome === 'interrupted') {
        display.say(`interrupted after ${result.events.toLocaleString('en-US')} events; what was written is committed. Run the same command to resume, or add --restart to start over.`);
        return 130;
      }
      display.say(
        `done: ${result.component} generation ${result.generation} is active (${result.events.toLocaleString('en-US')} events in ${result.seconds.toFixed(1)} s, ${Math.round(result.perSecond).toLocaleString('en-US')} events/s${result.resumed ? ', resumed' : ''}). ` +
          `Generation ${result.previous} is kept: cdc replay ${name} --rollback returns to it, --drop-previous removes it.`,
      );
      return 0;
    } finally {
      await admin.disconnect();
    }
  } finally {
    await mongo.close();
  }
}

async function status(db: import('mongodb').Db, json: boolean): Promise<number> {
  const rows = [];
  for (const c of componentsOf(PROJECTIONS)) {
    const pointer = await readPointer(db, c.key);
    const state = await readReplay(db, c.key);
    const leased = state?.owner !== null && state?.owner !== undefined && state.expiresAt.getTime() > Date.now();
    rows.push({
      component: c.key,
      active: pointer?.active ?? 0,
      previous: pointer?.previous ?? null,
      switchedAt: pointer?.switchedAt ?? null,
      lease: leased ? { owner: state.owner, expiresAt: state.expiresAt } : null,
      replay: state === null || state.phase === null ? null : { generation: state.generation, phase: state.phase, group: state.group, startedAt: state.startedAt, updatedAt: state.updatedAt, progress: state.progress },
    });
  }
  if (json) {
    console.log(JSON.stringify(rows));
    return 0;
  }
  for (const r of rows) {
    console.log(`${r.component}: readers use generation ${r.active}${r.previous === null ? '' : `, generation ${r.previous} kept for --rollback`}`);
    console.log(r.lease === null ? '  no rebuild running' : `  rebuild running: lease held by ${r.lease.owner} until ${r.lease.expiresAt.toISOString()}`);
    if (r.replay !== null) {
      const p = r.replay.progress;
      console.log(`  last rebuild: generation ${r.replay.generation}, ${r.replay.phase}, group ${r.replay.group}, updated ${r.replay.updatedAt.toISOString()}`);
      if (p !== null) console.log(`  progress: ${p.done.toLocaleString('en-US')}/${p.total.toLocaleString('en-US')} events, ${Math.round(p.perSecond)} events/s, lag ${p.lag}`);
    }
  }
  return 0;
}
