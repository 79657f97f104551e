/**
 * `goalkeeper health`'s text: the platform's score from its three terms, and stuck tasks listed
 * beside them without changing it.
 */
import { formatWorkspaceHealth, healthScore, type WorkspaceHealthReport } from '../../src/health';

const report: WorkspaceHealthReport = {
  workspaceId: 'ws-1',
  workspaceExists: true,
  score: healthScore({ goalsWithoutTasks: 1, unassignedTasks: 0, failedTasks: 1 }),
  goals: [
    { id: 'goal-a', metricType: 'revenue', description: 'grow', hasTask: false, workflow: { status: 'running', health: 'healing' } },
    { id: 'goal-b', metricType: 'users', description: null, hasTask: true, workflow: { status: 'running', health: 'healthy' } },
  ],
  goalsWithoutTasks: ['goal-a'],
  unassignedTasks: [],
  failedTasks: [{ id: 'task-f', goalId: 'goal-b', agentId: 'agent-1' }],
  stuckTasks: [{ id: 'task-s', goalId: 'goal-b', agentId: 'agent-2', updatedAt: '2026-12-06T08:00:00.000Z' }],
  stuckAfterSeconds: 7200,
};

test('the score counts goals without tasks, unassigned and failed tasks; stuck tasks are listed, not scored', () => {
  expect(report.score).toBe(87);
  const text = formatWorkspaceHealth(report);
  expect(text).toContain('score 87/100: 1 goal(s) without tasks (−10 each), 0 task(s) without an assignable agent (−5 each), 1 failed task(s) (−3 each)');
  const stuckLine = text.split('\n').find((l) => l.includes('task-s'));
  expect(stuckLine).toMatch(/task-s\s.*goal-b\s.*agent-2\s.*2026-12-06T08:00:00.000Z/);
  expect(text).toContain('stuck task (in progress, untouched over 7200s)');
  // Without colour asked for, no escape codes.
  expect(text).not.toMatch(/\x1b\[/);
});

test('with no stuck task, no stuck table', () => {
  expect(formatWorkspaceHealth({ ...report, stuckTasks: [] })).not.toContain('stuck task');
});
