/**
 * `goalkeeper alerts test`: sends one test message to ALERT_WEBHOOK_URL straight away, with the
 * same sender the worker's deliveries use (activities/alert-webhook.ts), and says what the receiver
 * answered: the way to check a Slack or Mattermost hook before an incident does. Never prints
 * the URL (it is the hook's credential). Its link goes to TEMPORAL_UI_URL, else to the Web UI of a
 * running `npm start` (src/command-config.ts), as the worker's own alerts do. Exit 0 when the
 * receiver took it, 1 when it refused or could not be reached, 2 when no URL is configured.
 */
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { alertPayload, describeAnswer, postAlert, workflowUrl, WebhookUnreachable } from '../../activities/alert-webhook';
import { loadCommandConfig } from '../command-config';
import { ConfigError } from '../config';
import type { AlertNotice } from '../../workflows/types';

/** Sends the test message; returns the line to print and whether the receiver took it. */
export async function sendTestAlert(env: NodeJS.ProcessEnv = process.env): Promise<{ ok: boolean; line: string }> {
  const config = loadCommandConfig(env);
  const url = config.alerts.webhookUrl;
  if (!url) throw new ConfigError(['ALERT_WEBHOOK_URL must be set to send a test alert (a Slack or Mattermost incoming webhook URL)']);
  const goalId = '00000000-0000-4000-8000-000000000000';
  const notice: AlertNotice = {
    idempotencyKey: `goalkeeper-alerts-test/${randomUUID()}`,
    issueType: 'TEST',
    severity: 'info',
    goalId,
    workspaceId: null,
    taskId: null,
    message: 'a test message from `goalkeeper alerts test`: alerts reach this channel',
    raisedAt: new Date().toISOString(),
    workflowId: `goal-${goalId}`,
  };
  const payload = alertPayload(notice, 'open', { workflowUrl: workflowUrl(config.alerts.temporalUiUrl, config.temporal.namespace, notice.workflowId) });
  try {
    const answer = await postAlert(url, payload);
    return answer.ok
      ? { ok: true, line: `test alert delivered: the receiver answered ${describeAnswer(answer)}` }
      : { ok: false, line: `test alert refused: the receiver answered ${describeAnswer(answer)}` };
  } catch (err) {
    if (err instanceof WebhookUnreachable) return { ok: false, line: `test alert not delivered: ${err.message}` };
    throw err;
  }
}

export function register(program: Command): void {
  const alerts = program.command('alerts').description('the alert webhook (ALERT_WEBHOOK_URL): Slack, Mattermost or any receiver of the same JSON');
  alerts
    .command('test')
    .description('send one test message to ALERT_WEBHOOK_URL now and print what the receiver answered')
    .action(async () => {
      const { ok, line } = await sendTestAlert();
      (ok ? console.log : console.error)(line);
      if (!ok) process.exitCode = 1;
    });
}
