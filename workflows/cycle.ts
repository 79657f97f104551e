/**
 * What one heal cycle of the goal workflow works with, handed to the modules that do its parts
 * (alerts, task retries): the goal's state, the policy in force for this cycle, and the actions
 * the cycle reports in its summary.
 */
import type { GoalState } from './goal-state';
import type { HealPolicy, RulesInput } from './types';

export interface Cycle {
  readonly goalId: string;
  readonly state: GoalState;
  readonly policy: HealPolicy;
  /** The agent rules every store call of the cycle carries (from the policy). */
  readonly rules: RulesInput;
  /** What the cycle did, in order: the status query's and the summary's lines. */
  readonly actions: string[];
  /** Heal steps that failed for good this cycle (HEAL_STEP_FAILED closes after a cycle with none). */
  stepFailures: number;
}
