/**
 * The listener's own connection on a real Postgres: TCP keepalive probes start within seconds (a
 * half-open connection is noticed, not after Linux's two-hour default), and catch-up sweeps stay
 * single-flight when the connection flaps.
 */
import { readFileSync } from 'node:fs';
import { GoalEventListener, KEEPALIVE_INITIAL_DELAY_MS } from '../../src/triggers/listener';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { eventually } from '../support/services-env';

let db: TestDatabase;
let listener: GoalEventListener | null = null;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await listener?.stop();
  listener = null;
});
afterAll(async () => {
  await db?.drop();
});

/** The listener's events are not under test here: the dispatcher only has to accept them. */
const acceptingDispatcher = { dispatch: async () => 'started' as const };

async function listenerBackend(): Promise<{ pid: number; port: number }> {
  return eventually(async () => {
    const { rows } = await db.pool.query(
      `select pid, client_port as port from pg_stat_activity
        where application_name = 'goalkeeper-listener' and datname = current_database()`,
    );
    return rows.length === 1 && (rows[0] as { pid: number; port: number });
  }, 'the listener connection in pg_stat_activity');
}

/**
 * The kernel's timer on the listener's socket, read from /proc/net/tcp (Linux: the default this
 * setting overrides is Linux's). Columns: local address, remote, state, queues, "tr:when" where
 * tr 2 is the keepalive timer and `when` is in clock ticks (USER_HZ, 100 per second).
 */
function socketTimer(localPort: number): { timer: number; seconds: number } {
  const port = localPort.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 6 || !cols[1].endsWith(`:${port}`) || cols[3] !== '01' /* ESTABLISHED */) continue;
      const [timer, when] = cols[5].split(':');
      return { timer: parseInt(timer, 16), seconds: parseInt(when, 16) / 100 };
    }
  }
  throw new Error(`no established socket with local port ${localPort} in /proc/net/tcp{,6}`);
}

test('the listener connection sends its first keepalive probe within seconds, not hours', async () => {
  listener = new GoalEventListener({ databaseUrl: db.url, dispatcher: acceptingDispatcher, sweep: async () => undefined });
  await listener.start();
  const { port } = await listenerBackend();
  const { timer, seconds } = socketTimer(port);
  expect(timer).toBe(2); // the keepalive timer is armed
  expect(seconds).toBeLessThanOrEqual(KEEPALIVE_INITIAL_DELAY_MS / 1000);
  expect(KEEPALIVE_INITIAL_DELAY_MS).toBeLessThanOrEqual(10_000);
});

test('catch-up sweeps are single-flight when the connection flaps: one running, at most one queued', async () => {
  let calls = 0;
  let running = 0;
  let mostAtOnce = 0;
  let release!: () => void;
  const firstSweepHeld = new Promise<void>((resolve) => (release = resolve));
  listener = new GoalEventListener({
    databaseUrl: db.url,
    dispatcher: acceptingDispatcher,
    initialBackoffMs: 10,
    maxBackoffMs: 50,
    sweep: async () => {
      calls += 1;
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      try {
        await firstSweepHeld;
      } finally {
        running -= 1;
      }
    },
  });
  await listener.start();
  expect(calls).toBe(1);
  // Three drops and reconnects while the first sweep still runs: each asks for a sweep.
  for (let drop = 1; drop <= 3; drop += 1) {
    const { pid } = await listenerBackend();
    await db.pool.query('select pg_terminate_backend($1, 5000)', [pid]);
    await eventually(async () => listener!.connects === 1 + drop && listener!.state === 'listening', `reconnect ${drop}`, 15_000, 10);
  }
  expect(calls).toBe(1); // the rest wait their turn
  release();
  await listener.lastSweep();
  // One rerun covers all three reconnects: it started after the last of them.
  expect(calls).toBe(2);
  expect(listener.sweepsRun).toBe(2);
  expect(mostAtOnce).toBe(1);
});
