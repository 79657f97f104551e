/**
 * GoalState's rules, without a server: budgets, the heal queue, alerts and health, what wakes a
 * resting goal, and the snapshot continue-as-new carries. The workflow tests check the same
 * rules end to end on the time-skipping server.
 */
import { GoalState, MAX_PENDING_HEALS } from '../../workflows/goal-state';
import type { CycleSummary } from '../../workflows/messages';
import type { HealPolicy, IssueType } from '../../workflows/types';

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
  alertDelivery: false,
};

/** Opens an alert as a cycle raises it (its key as alerts.ts would give it, for test 7). */
const raise = (s: GoalState, issue: IssueType, taskId: string | null, written = false): boolean => {
  const opened = s.openAlert({ issue, taskId, severity: 'critical', text: `${issue} text`, raisedAt: '2026-12-06T00:00:00.000Z', writeKey: `goal/run/alert/${s.cycles}/${issue}${taskId ? `:${taskId}` : ''}` });
  if (opened && written) s.alert(taskId ? `${issue}:${taskId}` : issue)!.written = true;
  return opened;
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
    expect(raise(s, 'NO_AGENTS_AVAILABLE', null)).toBe(true);
    expect(raise(s, 'NO_AGENTS_AVAILABLE', null)).toBe(false);
    raise(s, 'NO_AGENTS_AVAILABLE', 't1');
    raise(s, 'NO_AGENTS_AVAILABLE', 't2');
    s.closeTaskAlerts('NO_AGENTS_AVAILABLE', ['t2']);
    expect([...s.openAlerts.keys()]).toEqual(['NO_AGENTS_AVAILABLE', 'NO_AGENTS_AVAILABLE:t2']);
    s.closeGoalAlert('NO_AGENTS_AVAILABLE');
    expect([...s.openAlerts.keys()]).toEqual(['NO_AGENTS_AVAILABLE:t2']);
  });

  test('health comes from typed state: a spent budget or a stall needs a human, a missing agent or task is degraded, a retry is healing', () => {
    const s = new GoalState(GOAL);
    expect(s.computeHealth([])).toBe('healthy');
    expect(s.computeHealth(['t'])).toBe('healing');
    raise(s, 'HEAL_STEP_FAILED', null);
    expect(s.computeHealth([])).toBe('healthy');
    raise(s, 'NO_TASKS_FOR_GOAL', null);
    expect(s.computeHealth([])).toBe('degraded');
    raise(s, 'GOAL_STALLED', null);
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
    raise(s, 'GOAL_STALLED', null, true);
    expect(s.nextWake(policy).reason).toBe('safety recheck');
  });
});

describe('the alert lifecycle', () => {
  test('an open alert is a typed record, unwritten until its write succeeds', () => {
    const s = new GoalState(GOAL);
    s.startCycle();
    raise(s, 'NO_TASKS_FOR_GOAL', null);
    expect(s.alert('NO_TASKS_FOR_GOAL')).toEqual({
      issue: 'NO_TASKS_FOR_GOAL',
      taskId: null,
      severity: 'critical',
      text: 'NO_TASKS_FOR_GOAL text',
      raisedAt: '2026-12-06T00:00:00.000Z',
      writeKey: 'goal/run/alert/1/NO_TASKS_FOR_GOAL',
      written: false,
      failedInCycle: null,
    });
    // Being written: not yet a failed write (the status's "not in logs yet", a timer's reason).
    expect(s.status().unwrittenAlerts).toEqual([]);
    s.alert('NO_TASKS_FOR_GOAL')!.failedInCycle = 1;
    expect(s.status().unwrittenAlerts).toEqual(['NO_TASKS_FOR_GOAL']);
    s.alert('NO_TASKS_FOR_GOAL')!.written = true;
    expect(s.status().unwrittenAlerts).toEqual([]);
    expect(s.status().openAlerts).toEqual(['NO_TASKS_FOR_GOAL']);
  });

  test('closing a written alert is a resolution fact; closing an unwritten one is not (nobody heard of it)', () => {
    const s = new GoalState(GOAL);
    raise(s, 'NO_AGENTS_AVAILABLE', null, true);
    raise(s, 'RETRIES_EXHAUSTED', 't1', true);
    raise(s, 'RETRIES_EXHAUSTED', 't2', false);
    s.closeGoalAlert('NO_AGENTS_AVAILABLE');
    s.closeTaskAlerts('RETRIES_EXHAUSTED');
    expect(s.openAlerts.size).toBe(0);
    expect(s.resolvedAlerts.map((r) => [r.alert.issue, r.alert.taskId, r.resolvedAt])).toEqual([
      ['NO_AGENTS_AVAILABLE', null, null],
      ['RETRIES_EXHAUSTED', 't1', null],
    ]);
    // Closing what is not open produces nothing more.
    s.closeGoalAlert('NO_AGENTS_AVAILABLE');
    expect(s.resolvedAlerts).toHaveLength(2);
  });

  test('a closed goal closes every alert', () => {
    const s = new GoalState(GOAL);
    raise(s, 'GOAL_STALLED', null, true);
    raise(s, 'HEAL_STEP_FAILED', 't', true);
    s.closeAllAlerts();
    expect(s.openAlerts.size).toBe(0);
    expect(s.resolvedAlerts.map((r) => r.alert.issue)).toEqual(['GOAL_STALLED', 'HEAL_STEP_FAILED']);
  });

  test('a resolution or an episode whose recording failed wakes the goal one interval later; one not tried yet does not', () => {
    const s = new GoalState(GOAL);
    s.finishCycle(cycle(1, '2026-12-06T00:00:00.000Z'), policy, 0.5);
    raise(s, 'GOAL_STALLED', null, true);
    s.closeGoalAlert('GOAL_STALLED');
    expect(s.nextWake(policy).reason).toBe('safety recheck');
    s.resolvedAlerts[0].failedInCycle = 1;
    expect(s.nextWake(policy)).toEqual({ reason: 'try again what failed', at: '2026-12-06T00:05:00.000Z' });
    s.resolvedAlerts = [];
    s.endedEpisodes = [{ cycle: 1, seenAt: '2026-12-06T00:00:00.000Z', healedAt: '2026-12-06T00:00:00.000Z', failedInCycle: 1 }];
    expect(s.nextWake(policy).reason).toBe('try again what failed');
  });
});

describe('heal episodes', () => {
  const span = (number: number, startedAt: string, finishedAt: string, health: CycleSummary['health']): CycleSummary => ({ number, startedAt, finishedAt, wokenBy: [], actions: [], health });

  test('a cycle that heals and ends healthy is an episode of its own length', () => {
    const s = new GoalState(GOAL);
    s.finishCycle(span(1, '2026-12-06T00:00:00.000Z', '2026-12-06T00:00:00.250Z', 'healthy'), policy, 0.5, true);
    expect(s.healEpisode).toBeNull();
    expect(s.endedEpisodes).toEqual([{ cycle: 1, seenAt: '2026-12-06T00:00:00.000Z', healedAt: '2026-12-06T00:00:00.250Z' }]);
  });

  test('a healthy cycle with no heal action opens nothing', () => {
    const s = new GoalState(GOAL);
    s.finishCycle(span(1, '2026-12-06T00:00:00.000Z', '2026-12-06T00:00:01.000Z', 'healthy'), policy, 0.5, false);
    expect(s.healEpisode).toBeNull();
    expect(s.endedEpisodes).toEqual([]);
  });

  test('an episode opens at the start of the first unhealthy cycle and ends at the end of the first healthy one', () => {
    const s = new GoalState(GOAL);
    s.finishCycle(span(3, '2026-12-06T00:00:00.000Z', '2026-12-06T00:01:00.000Z', 'healing'), policy, 0.5, false);
    s.finishCycle(span(4, '2026-12-06T00:02:00.000Z', '2026-12-06T00:03:00.000Z', 'degraded'), policy, 0.5, true);
    expect(s.healEpisode).toEqual({ cycle: 3, seenAt: '2026-12-06T00:00:00.000Z' });
    // Carried by continue-as-new.
    const next = new GoalState(GOAL, JSON.parse(JSON.stringify(s.snapshot())));
    next.finishCycle(span(5, '2026-12-06T00:04:00.000Z', '2026-12-06T00:04:30.000Z', 'healthy'), policy, 0.5, true);
    expect(next.healEpisode).toBeNull();
    expect(next.endedEpisodes).toEqual([{ cycle: 3, seenAt: '2026-12-06T00:00:00.000Z', healedAt: '2026-12-06T00:04:30.000Z' }]);
  });

  test('a goal that closes mid-episode was never healed: the episode is dropped', () => {
    const s = new GoalState(GOAL);
    s.finishCycle(span(1, '2026-12-06T00:00:00.000Z', '2026-12-06T00:01:00.000Z', 'needs_intervention'), policy, 0.5, false);
    s.finishCycle(span(2, '2026-12-06T00:02:00.000Z', '2026-12-06T00:03:00.000Z', 'closed'), policy, 0.5, false);
    expect(s.healEpisode).toBeNull();
    expect(s.endedEpisodes).toEqual([]);
  });
});

test('a snapshot restores the typed alerts, resolutions and episodes (what continue-as-new carries)', () => {
  const s = new GoalState(GOAL);
  raise(s, 'NO_AGENTS_AVAILABLE', 't', true);
  raise(s, 'GOAL_STALLED', null, true);
  raise(s, 'NO_TASKS_FOR_GOAL', null, false);
  s.alert('NO_TASKS_FOR_GOAL')!.failedInCycle = 2;
  s.closeGoalAlert('GOAL_STALLED');
  s.finishCycle(cycle(2, '2026-12-06T00:00:00.000Z', 'degraded'), policy, 0.25);
  const restored = new GoalState(GOAL, JSON.parse(JSON.stringify(s.snapshot())));
  expect(restored.snapshot()).toEqual(s.snapshot());
  expect(restored.alert('NO_AGENTS_AVAILABLE:t')).toEqual(s.alert('NO_AGENTS_AVAILABLE:t'));
  expect(restored.unwrittenAlerts().map((a) => a.failedInCycle)).toEqual([2]);
  expect(restored.resolvedAlerts.map((r) => r.alert.writeKey)).toEqual(['goal/run/alert/0/GOAL_STALLED']);
  expect(restored.healEpisode).toEqual({ cycle: 2, seenAt: '2026-12-06T00:00:00.000Z' });
  expect(restored.computeHealth([])).toBe('degraded');
});

test('a snapshot restores the same state (what continue-as-new carries)', () => {
  const s = new GoalState(GOAL);
  s.requestHeal({ reason: 'op', origin: 'operator' }, 3);
  s.retries = { t: { used: 1, total: 2, exhausted: false, retryDueAt: '2026-12-06T00:01:00.000Z' } };
  raise(s, 'RETRIES_EXHAUSTED', 't');
  s.policy = policy;
  s.finishCycle(cycle(4, '2026-12-06T00:00:00.000Z', 'healing'), policy, 0.25);
  const restored = new GoalState(GOAL, JSON.parse(JSON.stringify(s.snapshot())));
  expect(restored.snapshot()).toEqual(s.snapshot());
  expect(restored.status()).toEqual(s.status());
});
