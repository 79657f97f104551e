/**
 * The report's --since (and GET /report's since) and its tables: every bad value refused with its
 * problem named, and the tables plain unless colour is asked for.
 */
import { formatHealReport, formatMs, parseSince, type HealReportResult } from '../../src/report';

const now = new Date('2026-12-06T12:00:00.000Z');

test('--since: a duration back from now, or an ISO time', () => {
  expect(parseSince('30m', now).toISOString()).toBe('2026-12-06T11:30:00.000Z');
  expect(parseSince('24h', now).toISOString()).toBe('2026-12-05T12:00:00.000Z');
  expect(parseSince(' 7d ', now).toISOString()).toBe('2026-11-29T12:00:00.000Z');
  expect(parseSince('2026-12-01', now).toISOString()).toBe('2026-12-01T00:00:00.000Z');
  expect(parseSince('2026-12-01T08:00:00Z', now).toISOString()).toBe('2026-12-01T08:00:00.000Z');
  expect(parseSince('2026-12-01T08:00+02:00', now).toISOString()).toBe('2026-12-01T06:00:00.000Z');
});

test.each([
  ['', 'since must be a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01 or 2026-12-01T08:00:00Z), got ""'],
  ['24', 'since must be a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01 or 2026-12-01T08:00:00Z), got "24"'],
  ['-1h', 'since must be a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01 or 2026-12-01T08:00:00Z), got "-1h"'],
  ['1w', 'since must be a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01 or 2026-12-01T08:00:00Z), got "1w"'],
  // A time without its zone would be read in the machine's.
  ['2026-12-01T08:00:00', 'since must be a duration back from now (30m, 24h, 7d) or an ISO time (2026-12-01 or 2026-12-01T08:00:00Z), got "2026-12-01T08:00:00"'],
  ['0m', 'since must be at least one minute back, got "0m"'],
  ['99999999999d', 'since reaches back past any date, got "99999999999d"'],
  ['2026-13-01', 'since is not a real date and time, got "2026-13-01"'],
  ['2026-12-07', 'since must not be in the future, got "2026-12-07"'],
])('--since %j is refused', (raw, message) => {
  expect(() => parseSince(raw, now)).toThrow(message);
});

test('durations read as people say them', () => {
  expect([formatMs(null), formatMs(850), formatMs(12_345), formatMs(270_000), formatMs(7_560_000)]).toEqual(['-', '850 ms', '12.3 s', '4.5 min', '2.1 h']);
});

const result: HealReportResult = {
  goalsProblem: null,
  report: {
    since: '2026-12-05T12:00:00.000Z',
    workspaces: [
      {
        workspaceId: '22222222-2222-4222-8222-222222222222',
        goals: { healthy: 5, healing: 1, degraded: 0, needs_intervention: 1 },
        heals: { task_created: 3, agent_assigned: 2 },
        alerts: { opened: { NO_AGENTS_AVAILABLE: 2 }, resolved: { NO_AGENTS_AVAILABLE: 1 } },
        timeToHealMs: { count: 4, p50: 2500, p95: 3850, max: 4000 },
        taskCompletionMs: { writer: { count: 3, p50: 120_000 } },
        stuckTasks: 1,
      },
    ],
  },
};

test('the report as tables: plain text by default, bold headings only when colour is asked for', () => {
  const plain = formatHealReport(result);
  expect(plain).not.toContain('\x1b[');
  expect(plain.split('\n')[0]).toBe('heal report since 2026-12-05T12:00:00.000Z');
  for (const cell of ['5/1/0/1', '2/1', '4, 2.5 s/3.9 s/4.0 s', 'agent_assigned 2, task_created 3', 'NO_AGENTS_AVAILABLE 2', 'writer 3, 2.0 min']) {
    expect(plain).toContain(cell);
  }
  expect(formatHealReport(result, { colour: true })).toContain('\x1b[1m');
  const unknown = formatHealReport({ goalsProblem: 'goals by health unknown: Temporal is not reachable', report: { ...result.report, workspaces: [{ ...result.report.workspaces[0], goals: null }] } });
  expect(unknown).toContain('goals by health unknown: Temporal is not reachable');
  expect(unknown).toContain('unknown');
  expect(formatHealReport({ goalsProblem: null, report: { since: result.report.since, workspaces: [] } })).toContain('(no running goals and nothing recorded in the window)');
});
