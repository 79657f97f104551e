/**
 * An agent status the configuration does not know is a warning, never silence.
 */
import { Writable } from 'node:stream';
import { warnAboutAgentStatuses, watchAgentStatuses } from '../../src/agent-status-audit';
import { eventually } from '../support/services-env';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { PgStore } from '../../src/store/pg-store';
import { createTestDatabase, insertAgent, insertWorkspace, type TestDatabase } from '../support/db';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger('info', sink), lines };
}

test('agents in a status nobody configured, and a typo in AGENT_ASSIGNABLE_STATUSES, are warned about', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  await insertAgent(db.pool, ws, { status: 'retired' });
  await insertAgent(db.pool, ws, { status: 'retired' });
  const store = new PgStore(db.url);
  try {
    const { log, lines } = capturingLogger();
    const audit = await warnAboutAgentStatuses(store, loadConfig({ AGENT_ASSIGNABLE_STATUSES: 'available,activ' }), log);
    expect(audit).toEqual({ unknownInUse: { retired: 2 }, unknownAssignable: ['activ'] });
    const warnings = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warnings).toEqual([
      expect.stringContaining('agents hold status "retired", which the configuration does not know'),
      expect.stringContaining('AGENT_ASSIGNABLE_STATUSES lists "activ"'),
    ]);

    const quiet = capturingLogger();
    await db.pool.query(`update agents set status = 'offline' where status = 'retired'`);
    expect(await warnAboutAgentStatuses(store, loadConfig({}), quiet.log)).toEqual({ unknownInUse: {}, unknownAssignable: [] });
    expect(quiet.lines.filter((l) => l.level === 40)).toEqual([]);
  } finally {
    await store.close();
  }
});

test('while the process runs, a status that appears is warned about within an interval, once, and again when more agents hold it', async () => {
  const ws = await insertWorkspace(db.pool);
  await insertAgent(db.pool, ws, { status: 'available' });
  await insertAgent(db.pool, ws, { status: 'dormant' });
  const store = new PgStore(db.url);
  const { log, lines } = capturingLogger();
  const config = loadConfig({});
  const warningsAbout = (status: string) => lines.filter((l) => l.level === 40 && l.status === status);
  try {
    const stop = await watchAgentStatuses(store, config, log, 50);
    try {
      // The start-up audit, done before the watch resolves.
      expect(warningsAbout('dormant')).toHaveLength(1);
      // The platform starts using a status nobody configured.
      await insertAgent(db.pool, ws, { status: 'paused' });
      await eventually(async () => warningsAbout('paused').length === 1, 'the new status warned about', 10_000, 20);
      // More agents in it: told again, with the new count; the start-up finding is not repeated.
      await insertAgent(db.pool, ws, { status: 'paused' });
      await eventually(async () => warningsAbout('paused').length === 2, 'the grown count warned about', 10_000, 20);
      expect(warningsAbout('paused').map((l) => l.agents)).toEqual([1, 2]);
      expect(warningsAbout('dormant')).toHaveLength(1);
    } finally {
      stop();
    }
  } finally {
    await store.close();
  }
});
