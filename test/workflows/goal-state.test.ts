/**
 * GoalState's rules, without a server: budgets, the heal queue, alerts and health, what wakes a
 * resting goal, and the snapshot continue-as-new carries. The workflow tests check the same
 * rules end to end on the time-skipping server.
 */
import { GoalState, MAX_PENDING_HEALS } from '../../workflows/goal-state';
import type { CycleSummary } from '../../workflows/messages';
import type { HealPolicy } from '../../workflows/types';

const GOAL = '5777992a-0000-4000-8000-000000000001';
const policy: HealPolicy = {
  assignableStatuses: ['available', 'active'],
  maxTaskRetries: 3,
  retryBackoffSeconds: 60,
  healthCheckIntervalSeconds: 300,
  maxAutoProvisionedAgents: 3,
  safetyRecheckHours: 24,
  maxHistoryEventsPerRun: 2000,
  taskStuckAfterSeconds: 7200,
  agentMaxOpenTasks: null,
};

const cycle = (number: number, finishedAt: string, health: CycleSummary['health'] = 'healthy'): CycleSummary => ({
  number,
  startedAt: finishedAt,
  finishedAt,
  wokenBy: [],
  actions: [],
  health,
});

describe('retry budgets', () => {
  test('a task first met starts from the retries on record, capped at the budget', () => {
    const s = new GoalState(GOAL);
    expect(s.retryStateOf('t1', { recorded: 2, maxTaskRetries: 3, operatorHeal: false })).toEqual({ used: 2, total: 2, exhausted: false });
    expect(s.retryStateOf('t2', { recorded: 7, maxTaskRetries: 3, operatorHeal: false })).toEqual({ used: 3, total: 7, exhausted: false });
  });

  test("a spent budget on record is fresh when an operator's heal is served", () => {
    const s = new GoalState(GOAL);
    expect(s.retryStateOf('t', { recorded: 3, maxTaskRetries: 3, operatorHeal: true })).toEqual({ used: 0, total: 3, exhausted: false });
  });

  test('a tracked budget keeps its state: the seed applies once', () => {
    const s = new GoalState(GOAL);
    s.retryStateOf('t', { recorded: 1, maxTaskRetries: 3, operatorHeal: false }).used = 2;
    expect(s.retryStateOf('t', { recorded: 0, maxTaskRetries: 3, operatorHeal: true }).used).toBe(2);
  });

  test("an operator's heal resets spent and exhausted budgets, not partly used ones; an event heal resets none", () => {
    const s = new GoalState(GOAL);
    s.retries = { spent: { used: 3, total: 3, exhausted: false }, exhausted: { used: 1, total: 4, exhausted: true }, partly: { used: 1, total: 1, exhausted: false } };
    s.requestHeal({ reason: 'task_failed', origin: 'event' }, 3);
    expect(s.retries.spent.used).toBe(3);
    expect(s.retries.exhausted.exhausted).toBe(true);
    s.requestHeal({ reason: 'operator', origin: 'operator' }, 3);
    expect(s.retries).toEqual({
      spent: { used: 0, total: 3, exhausted: false },
      exhausted: { used: 0, total: 4, exhausted: false },
      partly: { used: 1, total: 1, exhausted: false },
    });
  });

  test('budgets of tasks no longer in play are forgotten', () => {
    const s = new GoalState(GOAL);
    s.retries = { a: { used: 1, total: 1, exhausted: false }, b: { used: 1, total: 1, exhausted: false } };
    s.keepRetriesFor(['b']);
    expect(Object.keys(s.retries)).toEqual(['b']);
  });
});

describe('the heal queue', () => {
  test('event heals coalesce into one; operator heals queue up to the bound', () => {
    const s = new GoalState(GOAL);
    expect(s.requestHeal({ reason: 'e1', origin: 'event' }, 3)).toBe(true);
    expect(s.requestHeal({ reason: 'e2', origin: 'event' }, 3)).toBe(false);
    for (let i = 0; i < MAX_PENDING_HEALS; i += 1) expect(s.requestHeal({ reason: `op ${i}`, origin: 'operator' }, 3)).toBe(true);
    expect(s.requestHeal({ reason: 'one too many', origin: 'operator' }, 3)).toBe(false);
    expect(s.pendingHeals).toHaveLength(MAX_PENDING_HEALS + 1);
  });

  test('a cycle takes every queued heal and is numbered; a waiter is told the cycle that serves it', () => {
    const s = new GoalState(GOAL);
    const waited = s.awaitNextCycle();
    s.requestHeal({ reason: 'op', origin: 'operator' }, 3);
    expect(waited).toBe(1);
    expect(s.startCycle()).toEqual([{ reason: 'op', origin: 'operator' }]);
    expect(s.pendingHeals).toEqual([]);
    // A heal arriving while cycle 1 runs is served by cycle 2.
    expect(s.awaitNextCycle()).toBe(2);
    expect(s.awaitedSummary(1)).toBeNull();
    s.finishCycle(cycle(1, '2026-12-06T00:00:00.000Z'), policy, 0.5);
    expect(s.awaitedSummary(1)?.number).toBe(1);
    s.releaseAwaited(1);
    expect(s.awaitedSummary(1)).toBeNull();
  });
});

describe('alerts and health', () => {
  test('an alert opens once; goal-wide and task alerts close separately', () => {
    const s = new GoalState(GOAL);
    expect(s.openAlert('NO_AGENTS_AVAILABLE', null)).toBe(true);
    expect(s.openAlert('NO_AGENTS_AVAILABLE', null)).toBe(false);
    s.openAlert('NO_AGENTS_AVAILABLE', 't1');
    s.openAlert('NO_AGENTS_AVAILABLE', 't2');
    s.closeTaskAlerts('NO_AGENTS_AVAILABLE', ['t2']);
    expect([...s.openAlerts]).toEqual(['NO_AGENTS_AVAILABLE', 'NO_AGENTS_AVAILABLE:t2']);
    s.closeGoalAlert('NO_AGENTS_AVAILABLE');
    expect([...s.openAlerts]).toEqual(['NO_AGENTS_AVAILABLE:t2']);
  });

  test('health comes from typed state: a spent budget or a stall needs a human, a missing agent or task is degraded, a retry is healing', () => {
    const s = new GoalState(GOAL);
    expect(s.computeHealth([])).toBe('healthy');
    expect(s.computeHealth(['t'])).toBe('healing');
    s.openAlert('HEAL_STEP_FAILED', null);
    expect(s.computeHealth([])).toBe('healthy');
    s.openAlert('NO_TASKS_FOR_GOAL', null);
    expect(s.computeHealth([])).toBe('degraded');
    s.openAlert('GOAL_STALLED', null);
    expect(s.computeHealth([])).toBe('needs_intervention');
    const t = new GoalState(GOAL);
    t.retries = { x: { used: 3, total: 3, exhausted: true } };
    expect(t.computeHealth(['x'])).toBe('needs_intervention');
    t.closedReason = 'goal_completed';
    expect(t.computeHealth([])).toBe('closed');
  });
});

describe('what wakes a resting goal', () => {
  const finished = '2026-12-06T00:00:00.000Z';
  const at = (ms: number) => new Date(Date.parse(finished) + ms).toISOString();

  test('a healthy goal sets only the safety recheck, jittered within ±10 % of a day', () => {
    const early = new GoalState(GOAL);
    early.finishCycle(cycle(1, finished), policy, 0);
    expect(early.nextWake(policy)).toEqual({ reason: 'safety recheck', at: at(0.9 * 86_400_000) });
    const late = new GoalState(GOAL);
    late.finishCycle(cycle(1, finished), policy, 0.999);
    expect(Date.parse(late.nextWake(policy).at!) - Date.parse(finished)).toBeLessThan(1.1 * 86_400_000);
  });

  test('with the safety recheck off and nothing in flight, only an event wakes it', () => {
    const s = new GoalState(GOAL);
    s.finishCycle(cycle(1, finished), { ...policy, safetyRecheckHours: 0 }, 0.5);
    expect(s.nextWake({ ...policy, safetyRecheckHours: 0 })).toEqual({ reason: 'an event', at: null });
  });

  test('a failed step or an unwritten alert is tried again one interval later; a stall window ends on time; the earliest wins', () => {
    const s = new GoalState(GOAL);
    s.finishCycle(cycle(1, finished), policy, 0.5);
    s.stepFailures = 1;
    expect(s.nextWake(policy)).toEqual({ reason: 'try again what failed', at: at(300_000) });
    s.stepFailures = 0;
    s.tasksDoneSince = at(-200_000);
    expect(s.nextWake(policy)).toEqual({ reason: 'stall window ends', at: at(100_000) });
    // Once GOAL_STALLED is open the window has no timer: the goal waits for a human or an event.
    s.openAlert('GOAL_STALLED', null);
    expect(s.nextWake(policy).reason).toBe('safety recheck');
  });
});

test('a snapshot restores the same state (what continue-as-new carries)', () => {
  const s = new GoalState(GOAL);
  s.requestHeal({ reason: 'op', origin: 'operator' }, 3);
  s.retries = { t: { used: 1, total: 2, exhausted: false, retryDueAt: '2026-12-06T00:01:00.000Z' } };
  s.openAlert('RETRIES_EXHAUSTED', 't');
  s.policy = policy;
  s.finishCycle(cycle(4, '2026-12-06T00:00:00.000Z', 'healing'), policy, 0.25);
  const restored = new GoalState(GOAL, JSON.parse(JSON.stringify(s.snapshot())));
  expect(restored.snapshot()).toEqual(s.snapshot());
  expect(restored.status()).toEqual(s.status());
});
