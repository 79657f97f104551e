/**
 * The alert webhook's one sender: what goalkeeper POSTs for an alert or its resolution, and how
 * the receiver's answer is read. The JSON is one a Slack or Mattermost incoming webhook accepts
 * as it is (`text`: one readable line; the other fields are ignored there) and carries the facts
 * for machines. Used by the deliverAlert activity (activities/alerts.ts) and by
 * `goalkeeper alerts test` (src/commands/alerts.ts), so a test message travels exactly like an
 * alert.
 *
 * The URL is a secret (Slack's carries its token in the path): it is read from the worker's
 * configuration, never from a workflow, and no text this module returns or throws contains it.
 */
import type { AlertNotice } from '../workflows/types';

/** How long one POST may take: a receiver that hangs is an attempt that failed, retried later. */
export const ALERT_POST_TIMEOUT_MS = 10_000;
/** How much of a receiver's answer is kept (what `alerts test` shows, what a failure says). */
const ANSWER_CHARS = 200;

export interface AlertWebhookTarget {
  url: string;
  /** The Temporal Web UI's base URL: messages link to the goal's workflow there. */
  temporalUiUrl?: string;
}

export interface AlertPayload {
  text: string;
  status: 'open' | 'resolved';
  issue_type: string;
  severity: string;
  goal_id: string;
  workspace_id: string | null;
  task_id: string | null;
  message: string;
  raised_at: string;
  resolved_at?: string | null;
  idempotency_key: string;
  workflow_url?: string;
}

/** The Web UI page of a workflow, or undefined without a UI URL. */
export function workflowUrl(temporalUiUrl: string | undefined, namespace: string, workflowId: string): string | undefined {
  if (!temporalUiUrl) return undefined;
  return `${temporalUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** The idempotency key of a message: the alert's for its opening, `<key>/resolved` for its end. */
export const messageKey = (notice: AlertNotice, status: AlertPayload['status']): string =>
  status === 'open' ? notice.idempotencyKey : `${notice.idempotencyKey}/resolved`;

/** The JSON of one message. */
export function alertPayload(
  notice: AlertNotice,
  status: AlertPayload['status'],
  options: { workflowUrl?: string; resolvedAt?: string | null } = {},
): AlertPayload {
  const subject = `goal ${notice.goalId}${notice.taskId ? `, task ${notice.taskId}` : ''}${notice.workspaceId ? ` (workspace ${notice.workspaceId})` : ''}`;
  const head = status === 'open' ? `goalkeeper ${notice.severity.toUpperCase()} alert ${notice.issueType}` : `goalkeeper resolved ${notice.issueType}`;
  const link = options.workflowUrl ? ` ${options.workflowUrl}` : '';
  // One line: newlines in the tenant's text would break it (and Slack would render them).
  const text = `${head} on ${subject}: ${notice.message}${link}`.replace(/\s*\n\s*/g, ' ');
  return {
    text,
    status,
    issue_type: notice.issueType,
    severity: notice.severity,
    goal_id: notice.goalId,
    workspace_id: notice.workspaceId,
    task_id: notice.taskId,
    message: notice.message,
    raised_at: notice.raisedAt,
    ...(status === 'resolved' ? { resolved_at: options.resolvedAt ?? null } : {}),
    idempotency_key: messageKey(notice, status),
    ...(options.workflowUrl ? { workflow_url: options.workflowUrl } : {}),
  };
}

/** What the receiver answered: its HTTP status and the start of its body. */
export interface WebhookAnswer {
  status: number;
  statusText: string;
  body: string;
  /** 2xx: delivered. */
  ok: boolean;
  /** Whether trying again can help: a 5xx, 408 (timeout) or 429 (rate limit) can; any other 4xx
   * is the receiver refusing this message (a revoked hook, a bad payload) and will not change. */
  retryable: boolean;
}

/** The receiver could not be reached or did not answer in time (always worth retrying). */
export class WebhookUnreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookUnreachable';
  }
}

/** Takes the URL out of any text that might carry it (an error, an echoing receiver). */
export function withoutUrl(text: string, url: string): string {
  let out = text;
  for (const secret of [url, safeDecode(url)]) if (secret) out = out.split(secret).join('[ALERT_WEBHOOK_URL]');
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURI(text);
  } catch {
    return text;
  }
}

/**
 * POSTs one message, with its key in an `Idempotency-Key` header (a receiver that honours it
 * drops the repeat an at-least-once delivery may send). Answers what the receiver said, or throws
 * WebhookUnreachable (network error, timeout); neither says the URL.
 */
export async function postAlert(url: string, payload: AlertPayload, timeoutMs = ALERT_POST_TIMEOUT_MS): Promise<WebhookAnswer> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': payload.idempotency_key, 'user-agent': 'goalkeeper' },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`;
    throw new WebhookUnreachable(withoutUrl(`the alert webhook could not be reached: ${why}`, url));
  }
  let body = '';
  try {
    body = withoutUrl((await response.text()).slice(0, ANSWER_CHARS), url);
  } catch {
    /* the status is the answer that counts */
  }
  const status = response.status;
  return { status, statusText: response.statusText, body, ok: status >= 200 && status < 300, retryable: status >= 500 || status === 408 || status === 429 };
}

/** One line for a person: what the receiver answered. */
export const describeAnswer = (a: WebhookAnswer): string => `HTTP ${a.status}${a.statusText ? ` ${a.statusText}` : ''}${a.body ? `: ${a.body}` : ''}`;
