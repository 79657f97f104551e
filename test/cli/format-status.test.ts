/**
 * `goalkeeper status` without --json: the table an operator reads. Pure formatting of the
 * workflow's status query answer, so no server is needed to hold it to what it must show.
 */
import { formatStatus } from '../../src/cli';
import { loadConfig } from '../../src/config';
import type { GoalStatus } from '../../workflows/messages';

const status = (overrides: Partial<GoalStatus> = {}): GoalStatus => ({
  goalId: '11111111-1111-4111-8111-111111111111',
  workspaceId: '22222222-2222-4222-8222-222222222222',
  description: 'Ship the pricing page',
  health: 'healing',
  taskId: '33333333-3333-4333-8333-333333333333',
  agentId: null,
  retries: {},
  lastCycle: null,
  lastCheckedAt: null,
  nextWake: { reason: 'the first cycle', at: null },
  openAlerts: [],
  unwrittenAlerts: [],
  cycles: 2,
  closedReason: null,
  policy: null,
  ...overrides,
});

test('a task whose retry a heal cut short shows when that retry is due; a spent budget says so', () => {
  const text = formatStatus(
    status({
      retries: {
        'task-a': { used: 1, total: 1, exhausted: false, retryDueAt: '2026-12-01T15:30:00.000Z' },
        'task-b': { used: 3, total: 5, exhausted: true },
      },
    }),
  );
  expect(text).toMatch(/^retries +task-a: 1 used, 1 in all, next retry due 2026-12-01T15:30:00.000Z; task-b: 3 used \(exhausted\), 5 in all$/m);
});

test("the last cycle's actions are listed one per line under it, and a closed goal says why", () => {
  const text = formatStatus(
    status({
      health: 'closed',
      closedReason: 'goal_completed',
      lastCycle: {
        number: 7,
        startedAt: '2026-12-01T15:00:00.000Z',
        finishedAt: '2026-12-01T15:00:01.000Z',
        wokenBy: ['event heal: goal_closed (notify)', 'event heal: fleet check: stalled'],
        actions: ['goal closed (goal_completed); workflow ends', 'search attributes published'],
        health: 'closed',
      },
    }),
  );
  const lines = text.split('\n');
  expect(lines).toContain('last cycle    #7 at 2026-12-01T15:00:01.000Z, woken by event heal: goal_closed (notify); event heal: fleet check: stalled');
  expect(lines).toContain('actions       goal closed (goal_completed); workflow ends');
  expect(lines).toContain('              search attributes published');
  expect(lines[lines.length - 1]).toBe('closed        goal_completed');
  expect(text).toMatch(/^agent +-$/m);
  expect(text).toMatch(/^retries +-$/m);
});

test('open alerts whose logs row is not written yet are named; none, no row', () => {
  const text = formatStatus(status({ openAlerts: ['NO_TASKS_FOR_GOAL', 'NO_AGENTS_AVAILABLE'], unwrittenAlerts: ['NO_TASKS_FOR_GOAL'] }));
  expect(text).toMatch(/^open alerts +NO_TASKS_FOR_GOAL, NO_AGENTS_AVAILABLE$/m);
  expect(text).toMatch(/^not in logs yet +NO_TASKS_FOR_GOAL$/m);
  expect(formatStatus(status({ openAlerts: ['NO_TASKS_FOR_GOAL'], unwrittenAlerts: [] }))).not.toContain('not in logs yet');
});

test('the healing settings in force are shown when the workflow reports them', () => {
  const text = formatStatus(
    status({
      // The defaults: statuses available, active; 3 retries, 60 s backoff, 300 s interval, cap 3.
      policy: loadConfig({}).policy,
    }),
  );
  expect(text).toMatch(
    /^settings +assignable available, active; 3 retries per task, backoff 60s doubling; fleet check every 300s; at most 3 provisioned agents per workspace; safety recheck every 24h$/m,
  );
  expect(formatStatus(status({ policy: { ...loadConfig({}).policy, safetyRecheckHours: 0 } }))).toMatch(/; no safety recheck$/m);
  expect(formatStatus(status())).not.toMatch(/^settings/m);
});

test('when the goal last checked itself, and what wakes it next: a timer with its time, or only an event', () => {
  const resting = formatStatus(status({ lastCheckedAt: '2026-12-01T15:00:01.000Z', nextWake: { reason: 'safety recheck', at: '2026-12-02T14:12:00.000Z' } }));
  expect(resting).toMatch(/^last checked +2026-12-01T15:00:01.000Z$/m);
  expect(resting).toMatch(/^wakes next +safety recheck, at 2026-12-02T14:12:00.000Z \(or on an event\)$/m);
  const eventOnly = formatStatus(status({ nextWake: { reason: 'an event or the fleet check', at: null } }));
  expect(eventOnly).toMatch(/^last checked +-$/m);
  expect(eventOnly).toMatch(/^wakes next +on an event or the fleet check \(no timer set\)$/m);
  expect(eventOnly).toMatch(/^last cycle +-$/m);
});
