/**
 * Runs `run` over `items`, at most `atOnce` at a time. After a failure it starts no more, and it
 * rethrows the first failure only once every started run has settled: nothing of a failed round
 * may still be writing when the round is retried, or when a rebuild's hand-over reports a
 * generation.
 */
export async function eachSettled<T>(items: readonly T[], atOnce: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++] as T;
      await run(item).catch((error: unknown) => void (failure ??= { error }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(atOnce, items.length) }, lane));
  if (failure !== undefined) throw failure.error;
}
