/**
 * Runs `work` for every item, at most `limit` at a time, in the items' order; resolves when all
 * are done, or rejects with the first error (items already under way finish, no new ones start).
 * The one bounded-concurrency loop for burst heals, the fleet check and the bench.
 */
export async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await work(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, lane));
}
