/**
 * What the Web UI shows of a goal beside its history: the memo (the goal's description) and the
 * search attributes (WorkspaceId, GoalMetricType, GoalHealth), each written only when it changed,
 * since every upsert is a history event. Workflow code only.
 */
import { patched, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { GoalState } from './goal-state';
import { GoalHealthKey, GoalMetricTypeKey, WorkspaceIdKey } from './messages';
import { GOAL_WORKFLOW_PATCHES as PATCH } from './patches';
import type { GoalView } from './types';

/** Notes what the store said of the goal, and updates the memo when what it shows changed. */
export function noteGoal(state: GoalState, goal: GoalView): void {
  const previous = state.goal;
  state.goal = goal;
  // (patched: workflows recorded before this left the memo's metric type as it first was.)
  const metricTypeChanged = previous !== null && previous.metricType !== goal.metricType;
  if (
    previous?.description !== goal.description ||
    previous?.workspaceId !== goal.workspaceId ||
    (metricTypeChanged && patched(PATCH.memoFollowsMetricType))
  ) {
    upsertMemo({ goal: goal.description ?? goal.metricType, workspaceId: goal.workspaceId, metricType: goal.metricType });
  }
}

/** Upserts the search attributes that changed since the last upsert, in one command (each
 * upsert is a history event). A continued run inherits them, and knows what it inherited. */
export function publishSearchAttributes(state: GoalState): void {
  const want = { workspaceId: state.goal?.workspaceId ?? null, metricType: state.goal?.metricType ?? null, health: state.health };
  const had = state.publishedAttributes;
  const updates = [];
  if (want.workspaceId !== null && want.workspaceId !== had?.workspaceId) updates.push({ key: WorkspaceIdKey, value: want.workspaceId });
  if (want.metricType !== null && want.metricType !== had?.metricType) updates.push({ key: GoalMetricTypeKey, value: want.metricType });
  if (want.health !== had?.health) updates.push({ key: GoalHealthKey, value: want.health });
  if (updates.length === 0) return;
  upsertSearchAttributes(updates);
  state.publishedAttributes = want;
}
