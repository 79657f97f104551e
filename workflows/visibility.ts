/**
 * What the Web UI shows of a goal beside its history: the memo (the goal's description), the
 * search attributes (WorkspaceId, GoalMetricType, GoalHealth), each written only when it changed
 * since every upsert is a history event, and the current details (free: answered from memory by
 * the UI's metadata query). Workflow code only.
 */
import { setCurrentDetails, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { GoalState } from './goal-state';
import { GoalHealthKey, GoalMetricTypeKey, WorkspaceIdKey } from './messages';
import type { GoalView } from './types';

/** Temporal's default limit for one keyword search attribute is 2 KB; tenant text is cut well
 * below it, so a long metric type can never make an upsert, and the workflow task, fail. */
export const MAX_KEYWORD_CHARS = 200;
/** A memo has no tight limit, but a description is read in a list: the first 1,000 characters. */
export const MAX_MEMO_TEXT_CHARS = 1000;

const cut = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Notes what the store said of the goal, and updates the memo when what it shows changed. */
export function noteGoal(state: GoalState, goal: GoalView): void {
  const previous = state.goal;
  state.goal = goal;
  if (previous?.description !== goal.description || previous?.workspaceId !== goal.workspaceId || previous?.metricType !== goal.metricType) {
    upsertMemo({
      goal: cut(goal.description ?? goal.metricType, MAX_MEMO_TEXT_CHARS),
      workspaceId: goal.workspaceId,
      metricType: cut(goal.metricType, MAX_KEYWORD_CHARS),
    });
  }
}

/** Upserts the search attributes that changed since the last upsert, in one command. A continued
 * run inherits them, and knows what it inherited. */
export function publishSearchAttributes(state: GoalState): void {
  const metricType = state.goal ? cut(state.goal.metricType, MAX_KEYWORD_CHARS) : null;
  const want = { workspaceId: state.goal?.workspaceId ?? null, metricType, health: state.health };
  const had = state.publishedAttributes;
  const updates = [];
  if (want.workspaceId !== null && want.workspaceId !== had?.workspaceId) updates.push({ key: WorkspaceIdKey, value: want.workspaceId });
  if (want.metricType !== null && want.metricType !== had?.metricType) updates.push({ key: GoalMetricTypeKey, value: want.metricType });
  if (want.health !== had?.health) updates.push({ key: GoalHealthKey, value: want.health });
  if (updates.length > 0) {
    upsertSearchAttributes(updates);
    state.publishedAttributes = want;
  }
  showCurrentDetails(state);
}

/** The goal's story at a glance on its Web UI page (Markdown): what it is, how it is, what the
 * last cycle did and what wakes it next. */
export function showCurrentDetails(state: GoalState): void {
  const s = state.status();
  const goal = state.goal ? cut(state.goal.description ?? state.goal.metricType, MAX_MEMO_TEXT_CHARS) : `goal ${state.goalId}`;
  const wake = s.nextWake.at ? `${s.nextWake.reason} at ${s.nextWake.at}` : `${s.nextWake.reason} (no timer set)`;
  const lines = [
    `**${goal}**`,
    '',
    `- health: **${s.health}**`,
    `- task: ${s.taskId ?? 'none'}; agent: ${s.agentId ?? 'none'}`,
    `- open alerts: ${s.openAlerts.length > 0 ? s.openAlerts.join(', ') : 'none'}`,
    `- last check: ${s.lastCheckedAt ?? 'not yet'}${s.lastCycle ? ` (cycle ${s.lastCycle.number}: ${s.lastCycle.actions.length > 0 ? s.lastCycle.actions.join('; ') : 'nothing to do'})` : ''}`,
    `- wakes next on: ${wake}`,
  ];
  setCurrentDetails(lines.join('\n'));
}
