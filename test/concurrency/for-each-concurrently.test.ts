/**
 * forEachConcurrently: the one bounded-concurrency loop (sweep, burst heals, bench). Each item
 * waits on a promise the test resolves itself, so the test sees exactly what is in flight.
 */
import { forEachConcurrently } from '../../activities/concurrency';

function gate() {
  let open!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
  return { promise, open, fail };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('never more than the limit in flight, items taken in order, done when all are', async () => {
  const gates = Array.from({ length: 5 }, gate);
  const begun: number[] = [];
  let finished = false;
  const run = forEachConcurrently([0, 1, 2, 3, 4], 2, async (i) => {
    begun.push(i);
    await gates[i].promise;
  }).then(() => (finished = true));
  await tick();
  expect(begun).toEqual([0, 1]);
  gates[1].open();
  await tick();
  expect(begun).toEqual([0, 1, 2]);
  gates[0].open();
  gates[2].open();
  await tick();
  expect(begun).toEqual([0, 1, 2, 3, 4]);
  expect(finished).toBe(false);
  gates[3].open();
  gates[4].open();
  await run;
  expect(finished).toBe(true);
});

test('the first failure rejects, and no new item starts after it', async () => {
  const gates = Array.from({ length: 4 }, gate);
  const begun: number[] = [];
  const run = forEachConcurrently([0, 1, 2, 3], 2, async (i) => {
    begun.push(i);
    await gates[i].promise;
  });
  await tick();
  gates[0].fail(new Error('item 0 failed'));
  gates[1].open();
  await expect(run).rejects.toThrow('item 0 failed');
  expect(begun).toEqual([0, 1]);
});

test('an empty list resolves at once', async () => {
  await expect(forEachConcurrently([], 4, async () => undefined)).resolves.toBeUndefined();
});
