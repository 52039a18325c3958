import type { AnyBulkWriteOperation, Collection, Document } from 'mongodb';

/** Seconds to run `writes` as unordered bulks of 500, `inFlight` bulks at a time. */
export async function timedBulks<D extends Document>(collection: Collection<D>, writes: AnyBulkWriteOperation<D>[], inFlight = 1): Promise<number> {
  const started = performance.now();
  let next = 0;
  const writer = async () => {
    while (next < writes.length) {
      const slice = writes.slice(next, next + 500);
      next += 500;
      await collection.bulkWrite(slice, { ordered: false });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, writer));
  return Math.max(0.001, (performance.now() - started) / 1000);
}
