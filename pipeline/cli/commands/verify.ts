import { z } from 'zod';
import { PROJECTIONS, projectionByName } from '../../../projections/registry.js';
import { loadSettings } from '../../config.js';
import { PipelineError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { superuserClient } from '../../postgres/clients.js';
import { SHOP } from '../../shop/defaults.js';
import { connectMongo } from '../../store/mongo.js';
import { formatReport, verifyProjection } from '../../verify/verify.js';
import { parseCommandArgs } from '../args.js';

const USAGE = `cdc verify <${PROJECTIONS.map((p) => p.name).join('|')}|all> [--schema NAME] [--database NAME] [--json]`;

/** Exits 0 when the store matches Postgres, 1 on any drift. */
export async function verifyCommand(argv: string[], _log: Logger): Promise<number> {
  const settings = loadSettings();
  const { values, positionals } = parseCommandArgs(
    argv,
    { schema: { type: 'string' }, database: { type: 'string' }, json: { type: 'boolean' } },
    z.object({ schema: z.string().default(SHOP.schema), database: z.string().default(settings.mongoDatabase), json: z.boolean().optional() }),
    USAGE,
  );
  const name = positionals[0];
  const chosen = name === 'all' ? PROJECTIONS : name === undefined ? [] : [projectionByName(name)].filter((p) => p !== undefined);
  if (chosen.length === 0) throw new PipelineError('CLI_USAGE', `unknown projection "${name ?? ''}"`, { hint: `usage: ${USAGE}` });
  const client = superuserClient(settings);
  await client.connect();
  const mongo = await connectMongo(settings.mongoUrl);
  try {
    let drift = false;
    for (const projection of chosen) {
      const report = await verifyProjection(client, values.schema, mongo.db(values.database), projection);
      drift ||= report.missing + report.unexpected + report.different > 0;
      console.log(values.json === true ? JSON.stringify(report) : formatReport(report));
    }
    return drift ? 1 : 0;
  } finally {
    await client.end();
    await mongo.close();
  }
}
