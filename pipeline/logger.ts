import { pino, type Logger } from 'pino';

export type { Logger };

/** pino JSON on stderr so that stdout stays free for command output people and scripts read. */
export function createLogger(name: string, level: string = process.env['LOG_LEVEL'] ?? 'info'): Logger {
  // Synchronous so that the last lines before an exit are never lost.
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ dest: 2, sync: true }));
}
