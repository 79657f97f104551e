/**
 * What one heal cycle works with, handed to the modules that do its parts (alerts, task
 * retries): the goal's state, the settings in force for this cycle, and the actions the cycle
 * reports in its summary.
 */
import type { GoalState } from './goal-state';
import type { HealPolicy } from './types';

export interface Cycle {
  readonly goalId: string;
  readonly state: GoalState;
  readonly policy: HealPolicy;
  /** What the cycle did, in order: the status query's and the summary's lines. */
  readonly actions: string[];
  /** Whether the cycle took a heal action (created a task, gave one an agent, retried one): such
   * a cycle opens a heal episode even if it ends healthy (GoalState.finishCycle). */
  healed: boolean;
}
