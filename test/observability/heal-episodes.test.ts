/**
 * Heal episodes in the metrics: under the configured policy, a failing task's whole retry series
 * (each retry one doubling backoff after the last) is one episode, counted once.
 */
import { createMetrics, episodeSettleMs } from '../../src/metrics';

afterEach(() => jest.useRealTimers());

async function value(metrics: ReturnType<typeof createMetrics>, name: string): Promise<string> {
  return metrics.registry.getSingleMetricAsString(name);
}

test('a retry series with the default backoffs (60, 120, 240 s) is one heal episode spanning it', async () => {
  jest.useFakeTimers();
  const policy = { retryBackoffSeconds: 60, maxTaskRetries: 3 };
  expect(episodeSettleMs(policy)).toBe(245_000);
  const metrics = createMetrics({ settleMs: episodeSettleMs(policy), defaultMetrics: false });
  const goal = '00000000-0000-4000-8000-000000000001';
  metrics.events.onHealed('agent_assigned', goal);
  for (const backoff of [60, 120, 240]) {
    jest.advanceTimersByTime(backoff * 1000);
    metrics.events.onHealed('task_retried', goal);
  }
  expect(await value(metrics, 'goalkeeper_goals_healed_total')).toMatch(/goalkeeper_goals_healed_total 0$/m);
  jest.advanceTimersByTime(245_000);
  expect(await value(metrics, 'goalkeeper_goals_healed_total')).toMatch(/goalkeeper_goals_healed_total 1$/m);
  expect(await value(metrics, 'goalkeeper_time_to_heal_seconds')).toMatch(/goalkeeper_time_to_heal_seconds_sum 420$/m);
  expect(await value(metrics, 'goalkeeper_task_retries_total')).toMatch(/goalkeeper_task_retries_total 3$/m);
});

test('with no retries the gap is still above one default backoff', () => {
  expect(episodeSettleMs({ retryBackoffSeconds: 60, maxTaskRetries: 0 })).toBe(65_000);
  expect(episodeSettleMs({ retryBackoffSeconds: 10, maxTaskRetries: 4 })).toBe(85_000);
});
