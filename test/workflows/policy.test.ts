/**
 * The policy check every workflow input and heal signal passes: a policy whose waits no timer can
 * hold is refused with a reason, as a malformed one is.
 */
import { MAX_WAIT_SECONDS, longestBackoffSeconds, policyProblem } from '../../workflows/policy';
import { testPolicy } from '../support/workflow-env';

test('the longest backoff is the last doubling; none without retries', () => {
  expect(longestBackoffSeconds({ retryBackoffSeconds: 60, maxTaskRetries: 3 })).toBe(240);
  expect(longestBackoffSeconds({ retryBackoffSeconds: 60, maxTaskRetries: 0 })).toBe(0);
});

test('a policy whose longest backoff, check interval or safety recheck passes a year is refused, naming the setting', () => {
  expect(policyProblem(testPolicy({ retryBackoffSeconds: 60, maxTaskRetries: 20 }))).toBeNull();
  expect(policyProblem(testPolicy({ retryBackoffSeconds: 60, maxTaskRetries: 40 }))).toBe(
    `the longest retry backoff, retryBackoffSeconds × 2^(maxTaskRetries−1) = 60 × 2^39, must be at most ${MAX_WAIT_SECONDS} seconds (a year)`,
  );
  expect(policyProblem(testPolicy({ healthCheckIntervalSeconds: MAX_WAIT_SECONDS + 1 }))).toBe(
    `healthCheckIntervalSeconds must be at most ${MAX_WAIT_SECONDS} seconds (a year)`,
  );
  expect(policyProblem(testPolicy({ safetyRecheckHours: MAX_WAIT_SECONDS / 3600 }))).toBeNull();
  expect(policyProblem(testPolicy({ safetyRecheckHours: MAX_WAIT_SECONDS / 3600 + 1 }))).toBe(`safetyRecheckHours must be at most ${MAX_WAIT_SECONDS / 3600} hours (a year)`);
  expect(policyProblem({ ...testPolicy(), maxTaskRetries: -1 })).toBe('maxTaskRetries must be an integer ≥ 0');
});

test('a policy missing or mangling the new settings is refused by name; 0 turns the safety recheck off', () => {
  expect(policyProblem(testPolicy({ safetyRecheckHours: 0 }))).toBeNull();
  const { safetyRecheckHours: _dropped, ...withoutRecheck } = testPolicy();
  expect(policyProblem(withoutRecheck)).toBe('safetyRecheckHours must be an integer ≥ 0');
  expect(policyProblem(testPolicy({ safetyRecheckHours: 1.5 }))).toBe('safetyRecheckHours must be an integer ≥ 0');
  expect(policyProblem(testPolicy({ maxHistoryEventsPerRun: 9 }))).toBe('maxHistoryEventsPerRun must be an integer ≥ 10');
  expect(policyProblem(testPolicy({ maxHistoryEventsPerRun: 10 }))).toBeNull();
  expect(policyProblem({ ...testPolicy(), maxCyclesPerRun: 100, assignableStatuses: [] })).toBe('assignableStatuses must be a non-empty list of statuses');
  expect(policyProblem(null)).toBe('not an object');
});
