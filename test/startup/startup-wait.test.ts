/**
 * The start-up wait's rules, on their own: what is retried, for how long, and what is thrown.
 * (test/e2e/startup-wait.test.ts runs them in the real processes against late real servers.)
 */
import pino from 'pino';
import { StoreError } from '../../activities/store-port';
import { toStoreError } from '../../src/store/pg-store';
import { StartupWaitError, isStoreUnreachable, isTemporalUnreachable, untilReachable } from '../../src/startup-wait';

const log = pino({ level: 'silent' });
const fast = { log, firstDelayMs: 1, maxDelayMs: 4 };

/** A connect that fails with each of `failures` in turn, then answers `ok`. */
function failingThen(failures: Error[]) {
  let calls = 0;
  return {
    connect: async () => {
      const failure = failures[calls++];
      if (failure) throw failure;
      return 'ok';
    },
    calls: () => calls,
  };
}

test('transient failures are retried until the server answers', async () => {
  const refused = new StoreError('connect ECONNREFUSED 127.0.0.1:5432', true, 'ECONNREFUSED');
  const server = failingThen([refused, refused, refused]);
  await expect(untilReachable('Postgres', server.connect, isStoreUnreachable, { ...fast, waitSeconds: 60 })).resolves.toBe('ok');
  expect(server.calls()).toBe(4);
});

test('each wait is logged with the attempt made and the delay before the next, doubling up to the cap', async () => {
  const lines: Array<{ attempt: number; retryInMs: number; msg: string }> = [];
  const recording = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const refused = new StoreError('connect ECONNREFUSED', true, 'ECONNREFUSED');
  const server = failingThen([refused, refused, refused, refused]);
  await untilReachable('Postgres', server.connect, isStoreUnreachable, { log: recording, firstDelayMs: 1, maxDelayMs: 4, waitSeconds: 60 });
  expect(lines.map((l) => [l.msg, l.attempt, l.retryInMs])).toEqual([
    ['Postgres is not reachable yet; retrying', 1, 1],
    ['Postgres is not reachable yet; retrying', 2, 2],
    ['Postgres is not reachable yet; retrying', 3, 4],
    ['Postgres is not reachable yet; retrying', 4, 4],
  ]);
});

test('a failure no wait can fix is thrown as it is, after one attempt', async () => {
  const missing = new StoreError('database "x" does not exist', false, '3D000');
  const server = failingThen([missing]);
  await expect(untilReachable('Postgres', server.connect, isStoreUnreachable, { ...fast, waitSeconds: 60 })).rejects.toBe(missing);
  expect(server.calls()).toBe(1);
});

test('a transient failure that outlasts the wait names the server and the setting', async () => {
  const refused = new StoreError('connect ECONNREFUSED', true, 'ECONNREFUSED');
  const server = failingThen(Array.from({ length: 1_000_000 }, () => refused));
  const err = await untilReachable('Postgres (DATABASE_URL)', server.connect, isStoreUnreachable, { ...fast, waitSeconds: 0.05 }).catch((e) => e);
  expect(err).toBeInstanceOf(StartupWaitError);
  expect(err.message).toBe('Postgres (DATABASE_URL) could not be reached within STARTUP_WAIT_SECONDS (0.05 s): connect ECONNREFUSED');
  expect(server.calls()).toBeGreaterThan(1);
});

test('STARTUP_WAIT_SECONDS=0 tries once', async () => {
  const server = failingThen([new StoreError('connect ECONNREFUSED', true, 'ECONNREFUSED')]);
  const err = await untilReachable('Postgres', server.connect, isStoreUnreachable, { ...fast, waitSeconds: 0 }).catch((e) => e);
  expect(err.message).toBe('Postgres could not be reached (STARTUP_WAIT_SECONDS is 0, so no retry): connect ECONNREFUSED');
  expect(server.calls()).toBe(1);
});

test('an aborted signal ends the wait', async () => {
  const controller = new AbortController();
  controller.abort();
  const server = failingThen([new StoreError('connect ECONNREFUSED', true, 'ECONNREFUSED')]);
  await expect(untilReachable('Postgres', server.connect, isStoreUnreachable, { ...fast, waitSeconds: 60, signal: controller.signal })).rejects.toBeInstanceOf(StartupWaitError);
  expect(server.calls()).toBe(1);
});

test('which Temporal failures count as unreachable', () => {
  const withName = (name: string, message = '') => Object.assign(new Error(message), { name });
  const withCode = (code: number) => Object.assign(new Error('grpc'), { code });
  expect(isTemporalUnreachable(withName('TransportError', 'tcp connect error'))).toBe(true);
  expect(isTemporalUnreachable(new Error('Failed to connect before the deadline'))).toBe(true);
  expect(isTemporalUnreachable(withCode(14))).toBe(true); // UNAVAILABLE
  expect(isTemporalUnreachable(withCode(4))).toBe(true); // DEADLINE_EXCEEDED
  expect(isTemporalUnreachable(withCode(16))).toBe(false); // UNAUTHENTICATED
  expect(isTemporalUnreachable(withCode(7))).toBe(false); // PERMISSION_DENIED
  expect(isTemporalUnreachable(withName('ConfigError', 'TEMPORAL_TLS_CA_PATH must name a readable file'))).toBe(false);
  expect(isTemporalUnreachable(null)).toBe(false);
});

test('which database failures count as unreachable, as the pg adapter types them', () => {
  const pgError = (code: string, message: string) => toStoreError(Object.assign(new Error(message), { code }));
  expect(isStoreUnreachable(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'))).toBe(true);
  expect(isStoreUnreachable(pgError('57P03', 'the database system is starting up'))).toBe(true);
  expect(isStoreUnreachable(pgError('53300', 'sorry, too many clients already'))).toBe(true);
  expect(isStoreUnreachable(pgError('28P01', 'password authentication failed for user "gk"'))).toBe(false);
  expect(isStoreUnreachable(pgError('3D000', 'database "x" does not exist'))).toBe(false);
  expect(isStoreUnreachable(pgError('42883', 'function goalkeeper_agent_status_counts() does not exist'))).toBe(false);
  expect(isStoreUnreachable(new Error('connect ECONNREFUSED'))).toBe(false); // not a store call's failure
});
