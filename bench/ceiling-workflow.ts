/**
 * The least a per-goal workflow can cost the dev server: a start, one workflow task that runs one
 * local activity, and a timer; no database, no search attributes, no memo. The `ceiling`
 * benchmark runs it at the burst's size to show how many workflows per second this machine's dev
 * server can take at all, the bound goalkeeper's burst throughput lives under.
 */
import { proxyLocalActivities, sleep } from '@temporalio/workflow';

export interface CeilingActivities {
  arrived(): Promise<void>;
}

const { arrived } = proxyLocalActivities<CeilingActivities>({ startToCloseTimeout: '10 seconds' });

export async function ceilingWorkflow(): Promise<void> {
  await arrived();
  // Long enough never to fire during a bench run: a firing timer would be load the measurement
  // did not ask for.
  await sleep('1 day');
}
