#!/usr/bin/env node
import { isPipelineError, PipelineError } from '../errors.js';
import { createLogger } from '../logger.js';
import { connectorsCommand } from './commands/connectors.js';
import { demoCommand } from './commands/demo.js';
import { runCommand } from './commands/run.js';
import { shopCommand } from './commands/shop.js';
import { stackCommand } from './commands/stack.js';
import { verifyCommand } from './commands/verify.js';
import { dlqCommand } from './commands/dlq.js';
import { benchCommand } from './commands/bench.js';
import { documentsCommand } from './commands/documents.js';
import { serveCommand } from './commands/serve.js';
import { replayCommand } from './commands/replay.js';
import { statusCommand } from './commands/status.js';
import { drillCommand } from './commands/drill.js';
import { ownValue } from '../../schemas/own-key.js';

const COMMANDS: Record<string, { run: (argv: string[], log: ReturnType<typeof createLogger>) => Promise<number>; help: string }> = {
  demo: { run: demoCommand, help: 'install and start everything, project the shop under load, show where to look' },
  stack: { run: stackCommand, help: 'up | down | status | logs NAME: the native stack' },
  connectors: { run: connectorsCommand, help: 'apply [FILE...] | status | restart NAME: Debezium connectors' },
  shop: { run: shopCommand, help: 'migrate | seed | load | roundtrip: the sample domain' },
  run: { run: runCommand, help: 'run the projector worker until SIGTERM' },
  serve: { run: serveCommand, help: 'the read API (Redis in front, read-your-writes) until SIGTERM' },
  replay: { run: replayCommand, help: 'rebuild a projection into a new generation, switch readers, --rollback; replay status' },
  status: { run: statusCommand, help: 'lag in events and seconds, workers, dead letters; exit 2 past --max-* thresholds' },
  verify: { run: verifyCommand, help: 'compare a projection with Postgres; exit 1 on any difference' },
  bench: { run: benchCommand, help: 'compare [--quick] | drain | reads: ratios against the sink connector and the ceilings, API reads/s' },
  documents: { run: documentsCommand, help: 'upgrade | read | schemas: versioned documents' },
  dlq: { run: dlqCommand, help: 'list | show TOPIC | replay TOPIC: dead-lettered events' },
  drill: { run: drillCommand, help: 'kill -9 every component in turn under load, then converge and verify; exit 1 on any difference' },
};

function usage(): string {
  return ['usage: cdc <command> [options]', '', ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(12)}${c.help}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 64 : 0;
  }
  const command = ownValue(COMMANDS, name);
  if (command === undefined) throw new PipelineError('CLI_USAGE', `unknown command "${name}"`, { hint: usage() });
  return command.run(rest, createLogger(`cdc-${name}`));
}

main(process.argv.slice(2)).then(
  // Exit explicitly: a client library's idle socket must not keep a finished command alive.
  (code) => process.exit(code),
  (err: unknown) => {
    if (isPipelineError(err)) {
      console.error(err.describe());
      const tail = err.context['tail'];
      if (typeof tail === 'string' && tail.length > 0) console.error(`  last log lines:\n${tail.replace(/^/gm, '    ')}`);
      process.exit(err.code === 'CLI_USAGE' ? 64 : 1);
    }
    console.error(err);
    process.exit(70);
  },
);
