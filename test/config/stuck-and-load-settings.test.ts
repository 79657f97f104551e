/**
 * TASK_STUCK_AFTER_SECONDS and AGENT_MAX_OPEN_TASKS: parsed into the healing policy, bad values
 * refused with a message naming the setting, and the policy check the workflow runs on its
 * settings refusing a policy that mangles them.
 */
import { loadConfig } from '../../src/config';
import { careCriteriaOf } from '../../src/fleet-check';
import { agentRulesOf, policyProblem } from '../../workflows/policy';
import { testPolicy } from '../support/workflow-env';

test('TASK_STUCK_AFTER_SECONDS defaults to two hours and takes a positive whole number of seconds, up to a year', () => {
  expect(loadConfig({}).policy.taskStuckAfterSeconds).toBe(7200);
  expect(loadConfig({ TASK_STUCK_AFTER_SECONDS: ' ' }).policy.taskStuckAfterSeconds).toBe(7200);
  expect(loadConfig({ TASK_STUCK_AFTER_SECONDS: '1800' }).policy.taskStuckAfterSeconds).toBe(1800);
  for (const bad of ['0', '-5', '1.5', 'two hours']) {
    expect(() => loadConfig({ TASK_STUCK_AFTER_SECONDS: bad })).toThrow(`TASK_STUCK_AFTER_SECONDS must be a positive integer, got "${bad}"`);
  }
  expect(() => loadConfig({ TASK_STUCK_AFTER_SECONDS: '999999999' })).toThrow('TASK_STUCK_AFTER_SECONDS must be at most 31536000 seconds (a year)');
});

test('AGENT_MAX_OPEN_TASKS is unset by default (no limit) and takes a positive whole number', () => {
  expect(loadConfig({}).policy.agentMaxOpenTasks).toBeNull();
  expect(loadConfig({ AGENT_MAX_OPEN_TASKS: '' }).policy.agentMaxOpenTasks).toBeNull();
  expect(loadConfig({ AGENT_MAX_OPEN_TASKS: '3' }).policy.agentMaxOpenTasks).toBe(3);
  for (const bad of ['0', '-1', '2.5', 'many']) {
    expect(() => loadConfig({ AGENT_MAX_OPEN_TASKS: bad })).toThrow(`AGENT_MAX_OPEN_TASKS must be a positive integer, got "${bad}"`);
  }
});

test('both reach the store calls (agent rules) and the fleet check (its criteria)', () => {
  const policy = loadConfig({ TASK_STUCK_AFTER_SECONDS: '900', AGENT_MAX_OPEN_TASKS: '4' }).policy;
  expect(agentRulesOf(policy, 'goal-x')).toMatchObject({ agentMaxOpenTasks: 4, taskStuckAfterSeconds: 900, workflowId: 'goal-x' });
  expect(careCriteriaOf(policy)).toMatchObject({ stuckSeconds: 900 });
});

test('a policy missing or mangling them is refused by name', () => {
  expect(policyProblem(testPolicy({ agentMaxOpenTasks: 2 }))).toBeNull();
  expect(policyProblem(testPolicy({ agentMaxOpenTasks: 0 }))).toBe('agentMaxOpenTasks must be an integer ≥ 1, or null for no limit');
  expect(policyProblem(testPolicy({ taskStuckAfterSeconds: 0 }))).toBe('taskStuckAfterSeconds must be an integer ≥ 1');
  const { taskStuckAfterSeconds: _s, ...withoutStuck } = testPolicy();
  expect(policyProblem(withoutStuck)).toBe('taskStuckAfterSeconds must be an integer ≥ 1');
  const { agentMaxOpenTasks: _l, ...withoutLimit } = testPolicy();
  expect(policyProblem(withoutLimit)).toBe('agentMaxOpenTasks must be an integer ≥ 1, or null for no limit');
});
