import {
  MongoBulkWriteError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
} from 'mongodb';

/**
 * Server error codes that say "the store is not available right now", not "this write is wrong":
 * HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, PrimarySteppedDown,
 * ExceededTimeLimit, SocketException, NotWritablePrimary, InterruptedAtShutdown,
 * InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, WriteConflict,
 * LockTimeout, MaxTimeMSExpired.
 */
const TRANSIENT_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 112, 24, 50]);

/**
 * Whether a store failure is an outage (retried in place, without limit) rather than something
 * about the data written (a document over the size limit, a value the store refuses): the latter
 * makes the records behind it poison, isolated and dead-lettered by the consumer.
 */
export function isTransientStoreFailure(cause: unknown): boolean {
  if (cause instanceof MongoNetworkError || cause instanceof MongoServerSelectionError) return true;
  if (
    cause instanceof MongoTopologyClosedError ||
    cause instanceof MongoNotConnectedError ||
    cause instanceof MongoServerClosedError
  )
    return true;
  if (cause instanceof MongoWriteConcernError) return true;
  if (cause instanceof MongoBulkWriteError) {
    const errors = Array.isArray(cause.writeErrors) ? cause.writeErrors : [cause.writeErrors];
    if (errors.length === 0) return true;
    return errors.every((e) => TRANSIENT_CODES.has(e.code));
  }
  if (cause instanceof MongoError) {
    if (
      cause.hasErrorLabel('RetryableWriteError') ||
      cause.hasErrorLabel('TransientTransactionError') ||
      cause.hasErrorLabel('ResetPool')
    )
      return true;
    if (cause.name === 'MongoPoolClearedError') return true;
    if (cause instanceof MongoServerError) return typeof cause.code === 'number' && TRANSIENT_CODES.has(cause.code);
  }
  return false;
}
