/**
 * The alert webhook's activity: one POST of one message (activities/alert-webhook.ts). The URL comes
 * from the worker's configuration, injected here, never from the input, so it never enters a
 * workflow's history; no failure this throws carries it either. Retries (and their backoff, for
 * hours) are the calling workflow's retry policy (workflows/alert-delivery.ts).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { alertPayload, describeAnswer, postAlert, workflowUrl, WebhookUnreachable, type AlertWebhookTarget } from './alert-webhook';
import type { AlertDeliveryCall } from '../workflows/types';
import { requireUuid } from './guards';

export interface AlertActivityDeps {
  /** Where alerts go; undefined on a worker without ALERT_WEBHOOK_URL. */
  alertWebhook?: AlertWebhookTarget;
}

export function createAlertActivities({ alertWebhook }: AlertActivityDeps) {
  return {
    /** POSTs one alert message. A 2xx is done; a 5xx, 408 or 429, or no answer, is retried by
     * Temporal; any other 4xx is the receiver refusing it, and retrying would not change that. */
    async deliverAlert(input: AlertDeliveryCall): Promise<{ status: number }> {
      const notice = input?.notice;
      if (!notice || typeof notice.idempotencyKey !== 'string' || notice.idempotencyKey === '' || (input.status !== 'open' && input.status !== 'resolved')) {
        throw ApplicationFailure.nonRetryable('an alert delivery needs a notice with an idempotency key and a status of open or resolved', 'InvalidInput');
      }
      requireUuid('notice.goalId', notice.goalId);
      if (!alertWebhook) {
        // Retryable: another worker of the task queue (configured with the URL) may take it.
        throw ApplicationFailure.retryable('this worker has no ALERT_WEBHOOK_URL: it cannot deliver alerts', 'AlertWebhookUnset');
      }
      const namespace = Context.current().info.namespace;
      const payload = alertPayload(notice, input.status, {
        workflowUrl: workflowUrl(alertWebhook.temporalUiUrl, namespace, notice.workflowId),
        resolvedAt: input.resolvedAt,
      });
      let answer;
      try {
        answer = await postAlert(alertWebhook.url, payload);
      } catch (err) {
        if (err instanceof WebhookUnreachable) throw ApplicationFailure.retryable(err.message, 'AlertWebhookUnreachable');
        throw err;
      }
      if (answer.ok) return { status: answer.status };
      const message = `the alert webhook answered ${describeAnswer(answer)}`;
      if (answer.retryable) throw ApplicationFailure.retryable(message, 'AlertWebhookUnavailable');
      throw ApplicationFailure.nonRetryable(message, 'AlertRejected');
    },
  };
}

export type AlertActivities = ReturnType<typeof createAlertActivities>;
