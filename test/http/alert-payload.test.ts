/**
 * The alert webhook's JSON, without a server: one readable line in `text` whatever the tenant's
 * text holds, the facts for machines, the resolution's own key, and no URL in any text passed on.
 */
import { alertPayload, messageKey, withoutUrl, workflowUrl } from '../../activities/alert-webhook';
import type { AlertNotice } from '../../workflows/types';

const notice: AlertNotice = {
  idempotencyKey: 'goal-g/run/alert/3/RETRIES_EXHAUSTED:t',
  issueType: 'RETRIES_EXHAUSTED',
  severity: 'critical',
  goalId: 'g',
  workspaceId: 'w',
  taskId: 't',
  message: 'task t failed 4 times;\n  retries stop\nuntil an operator heals',
  raisedAt: '2026-12-06T10:00:00.000Z',
  workflowId: 'goal-g',
};

test('an open alert: one line naming severity, issue, goal, task and workspace; the facts beside it', () => {
  const p = alertPayload(notice, 'open', { workflowUrl: 'http://ui/namespaces/default/workflows/goal-g' });
  expect(p.text).toBe('goalkeeper CRITICAL alert RETRIES_EXHAUSTED on goal g, task t (workspace w): task t failed 4 times; retries stop until an operator heals http://ui/namespaces/default/workflows/goal-g');
  expect(p).toMatchObject({ status: 'open', issue_type: 'RETRIES_EXHAUSTED', severity: 'critical', goal_id: 'g', workspace_id: 'w', task_id: 't', message: notice.message, raised_at: notice.raisedAt, idempotency_key: notice.idempotencyKey });
  expect(p).not.toHaveProperty('resolved_at');
});

test('a resolution has its own key and time; without a UI URL there is no workflow_url', () => {
  const p = alertPayload({ ...notice, taskId: null, workspaceId: null }, 'resolved', { resolvedAt: '2026-12-06T11:00:00.000Z' });
  expect(p.text).toMatch(/^goalkeeper resolved RETRIES_EXHAUSTED on goal g: /);
  expect(p).toMatchObject({ status: 'resolved', task_id: null, workspace_id: null, resolved_at: '2026-12-06T11:00:00.000Z', idempotency_key: `${notice.idempotencyKey}/resolved` });
  expect(p).not.toHaveProperty('workflow_url');
  expect(messageKey(notice, 'resolved')).toBe(`${notice.idempotencyKey}/resolved`);
});

test('the workflow URL is the Web UI page of the goal, the id encoded; none without a UI URL', () => {
  expect(workflowUrl('http://localhost:8233/', 'default', 'goal-1')).toBe('http://localhost:8233/namespaces/default/workflows/goal-1');
  expect(workflowUrl(undefined, 'default', 'goal-1')).toBeUndefined();
});

test('text passed on loses the URL, plain or percent-decoded', () => {
  const url = 'https://hooks.example/services/T0%2FB0/secret';
  expect(withoutUrl(`POST ${url} failed; ${decodeURI(url)}`, url)).toBe('POST [ALERT_WEBHOOK_URL] failed; [ALERT_WEBHOOK_URL]');
});
