/**
 * A durable timer that something the workflow learns meanwhile can cut short: the goal workflow
 * waits out a retry's backoff with it, and a heal ends the wait. Workflow code only: a
 * cancellation scope around `sleep`, no I/O.
 */
import { CancellationScope, condition, isCancellation, sleep } from '@temporalio/workflow';

/** Sleeps `ms` unless `interrupted()` first; true when the timer fired, false when cut short (a
 * wait interrupted before it starts starts no timer). `summary` labels the timer in the Web UI. */
export async function sleepUnlessInterrupted(ms: number, summary: string, interrupted: () => boolean): Promise<boolean> {
  if (interrupted()) return false;
  const scope = new CancellationScope();
  let fired = false;
  const timer = scope.run(() => sleep(ms, { summary })).then(() => {
    fired = true;
  });
  await condition(() => fired || interrupted());
  if (fired) return true;
  scope.cancel();
  await timer.catch((err: unknown) => {
    if (!isCancellation(err)) throw err;
  });
  return false;
}
