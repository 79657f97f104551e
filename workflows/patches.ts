/**
 * Patch ids of goalWorkflow: behaviour added after workflows were already running (workflow
 * versioning with `patched`). Each one is kept here, exported, so the replay suite can hold every
 * patch to a committed history that took its new branch (test/replay).
 */
export const GOAL_WORKFLOW_PATCHES = {
  recoveredTaskClearsExhaustion: 'recovered-task-clears-exhaustion',
  taskAgentAlertCloses: 'task-agent-alert-closes',
  parallelTaskRetries: 'parallel-task-retries',
  stalledGoalAlert: 'stalled-goal-alert',
  cancelledStepReruns: 'cancelled-step-reruns-as-activity',
  healthWhileRetrying: 'health-while-retrying',
  operatorHealReachesEveryTask: 'operator-heal-reaches-every-task',
  healAgainBeforeEnding: 'heal-again-before-ending',
  agentAlertOutlastsFailedStep: 'agent-alert-outlasts-failed-step',
  healCutsBackoffShort: 'heal-cuts-backoff-short',
  memoFollowsMetricType: 'memo-follows-metric-type',
  operatorHealKeptWhenQueueFull: 'operator-heal-kept-when-queue-full',
  unwrittenAlertWrittenLater: 'unwritten-alert-written-later',
  alertKeyedByWorkflow: 'alert-keyed-by-workflow',
} as const;
