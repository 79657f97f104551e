/**
 * A durable timer that something the workflow learns meanwhile can cut short: the goal workflow
 * waits out a retry's backoff with it, and a heal signal ends the wait. Workflow code only (it
 * runs in the workflow sandbox): a cancellation scope around `sleep`, no I/O.
 */
import { CancellationScope, condition, isCancellation, sleep } from '@temporalio/workflow';

export interface InterruptibleSleep {
  ms: number;
  /** The timer's summary in the Web UI. */
  summary: string;
  /** True when the wait should end early; checked at once and whenever the workflow wakes. */
  interrupted: () => boolean;
  /** Asked just before the wait is cut short: false keeps waiting (a workflow's patch check, so
   * runs recorded before the interruption existed replay as they ran). */
  mayCutShort: () => boolean;
}

/** Sleeps `ms` unless interrupted first; true when the timer fired, false when cut short (a
 * cut that comes before the timer starts starts none; a later one cancels it). */
export async function sleepUnlessInterrupted({ ms, summary, interrupted, mayCutShort }: InterruptibleSleep): Promise<boolean> {
  if (interrupted() && mayCutShort()) return false;
  const scope = new CancellationScope();
  let fired = false;
  const timer = scope.run(() => sleep(ms, { summary })).then(() => {
    fired = true;
  });
  await condition(() => fired || interrupted());
  if (fired || !mayCutShort()) {
    await timer;
    return true;
  }
  scope.cancel();
  await timer.catch((err: unknown) => {
    if (!isCancellation(err)) throw err;
  });
  return false;
}
