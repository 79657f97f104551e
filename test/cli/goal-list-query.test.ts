/**
 * The goal list's visibility query: what each filter asks Temporal for, and that a value the
 * callers' checks would refuse can never be spliced into it.
 */
import { goalListQuery } from '../../src/goal-list';
import type { GoalHealth } from '../../workflows/types';

const WS = '0b4c7a9e-3f21-4d8a-9c55-6e1f2a3b4c5d';

test('running goals by default, narrowed by health and workspace; closed ones are completed runs', () => {
  expect(goalListQuery({})).toBe('WorkflowType = "goalWorkflow" AND ExecutionStatus = "Running"');
  expect(goalListQuery({ health: 'needs_intervention', workspaceId: WS })).toBe(
    `WorkflowType = "goalWorkflow" AND ExecutionStatus = "Running" AND GoalHealth = "needs_intervention" AND WorkspaceId = "${WS}"`,
  );
  // Before its first cycle a goal's workflow has published no health.
  expect(goalListQuery({ health: 'starting' })).toBe('WorkflowType = "goalWorkflow" AND ExecutionStatus = "Running" AND GoalHealth IS NULL');
  expect(goalListQuery({ health: 'closed', workspaceId: WS })).toBe(
    `WorkflowType = "goalWorkflow" AND ExecutionStatus = "Completed" AND WorkspaceId = "${WS}"`,
  );
});

test('a value outside what the checks allow is refused, not quoted into the query', () => {
  expect(() => goalListQuery({ workspaceId: `${WS}" OR WorkflowType = "burstHealWorkflow` })).toThrow(/^goal list: workspace must be a UUID/);
  expect(() => goalListQuery({ health: 'healthy" OR "1"="1' as GoalHealth })).toThrow(/^goal list: health must be one of starting, healthy/);
});
