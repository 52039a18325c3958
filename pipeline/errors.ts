/**
 * One error type for the whole pipeline. `code` is stable and documented in docs/ERRORS.md (a unit
 * test keeps the two in step); `retriable` is what retry loops decide on; `hint` tells the operator
 * what to do next.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'configuration failed validation',
  CLI_USAGE: 'command line not understood',
  MISSING_BINARY: 'a program the stack needs is not installed and could not be installed',
  INSTALL_FAILED: 'installing a stack component failed',
  PORT_IN_USE: 'a port the stack wants is held by another process',
  COMPONENT_START_FAILED: 'a stack component did not become ready',
  COMPONENT_NOT_RUNNING: 'a stack component needed by the command is not running',
  CONNECTOR_CONFIG_INVALID: 'a connector config file failed validation',
  CONNECTOR_FAILED: 'a connector or one of its tasks failed',
  CONNECT_UNREACHABLE: 'the Kafka Connect REST API did not answer',
  EVENT_INVALID: 'a Kafka message is not a valid change event',
  STORE_WRITE_FAILED: 'a write to the document store failed',
  DOCUMENT_FROM_NEWER_WORKER: 'a document was written by a newer worker version than this one',
  DOCUMENT_INVALID: 'a stored document does not match any version of its schema',
  CACHE_UPDATE_FAILED: 'Redis answered but could not take the projector\'s cache updates',
  TIMEOUT: 'an operation did not finish in time',
  REPLAY_IN_PROGRESS: 'another rebuild of the same projections holds the lease',
  REPLAY_LEASE_LOST: 'a rebuild lost its lease to another process',
  NOTHING_TO_ROLL_BACK: 'there is no previous generation to return to',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface PipelineErrorOptions {
  retriable?: boolean;
  hint?: string;
  context?: Record<string, unknown>;
  cause?: unknown;
}

export class PipelineError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string | undefined;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: PipelineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PipelineError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.hint = options.hint;
    this.context = options.context ?? {};
  }

  /** The text a person reads on the terminal: what happened, why, and what to do. */
  describe(): string {
    const lines = [`error ${this.code}: ${this.message}`];
    const cause = this.cause instanceof Error ? this.cause.message : this.cause;
    if (cause !== undefined) lines.push(`  cause: ${String(cause)}`);
    if (this.hint !== undefined) lines.push(`  fix: ${this.hint}`);
    return lines.join('\n');
  }
}

export function isPipelineError(err: unknown): err is PipelineError {
  return err instanceof PipelineError;
}
