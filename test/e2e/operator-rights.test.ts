/**
 * A cluster where goalkeeper lacks operator rights (Temporal Cloud manages search attributes
 * elsewhere; a self-hosted cluster's authorizer may refuse OperatorService to workers). A real
 * dev server sits behind a small HTTP/2 proxy that passes every gRPC call through except
 * OperatorService calls, which it refuses with PERMISSION_DENIED, as such an authorizer does.
 * Then `goalkeeper setup` still creates the schedule (and exits non-zero), and `goalkeeper worker`
 * warns and keeps working.
 */
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes';
import { createTestDatabase, goalTasks, insertAgent, insertGoal, insertWorkspace, type TestDatabase } from '../support/db';
import { startDevServer, stopProcess, type DevServer } from '../support/dev-server';
import { runCli, spawnCli } from '../support/cli';
import { eventually } from '../support/services-env';

const OPERATOR_SERVICE = '/temporal.api.operatorservice.v1.OperatorService/';
const GRPC_PERMISSION_DENIED = '7';

interface DenyingProxy {
  address: string;
  /** OperatorService calls refused so far. */
  refused: () => number;
  close(): void;
}

/** h2c (gRPC without TLS) in, h2c out; one upstream session carries every stream. */
async function startOperatorDenyingProxy(upstreamAddress: string): Promise<DenyingProxy> {
  const upstream = http2.connect(`http://${upstreamAddress}`);
  upstream.on('error', () => undefined); // surfaces on the streams that used it
  const sessions = new Set<http2.ServerHttp2Session>();
  let refused = 0;
  const server = http2.createServer();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    if (path.startsWith(OPERATOR_SERVICE)) {
      refused += 1;
      // A trailers-only gRPC response: the status travels in the one HEADERS frame.
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': GRPC_PERMISSION_DENIED, 'grpc-message': 'Request unauthorized.' },
        { endStream: true },
      );
      return;
    }
    const forwarded = Object.fromEntries(Object.entries(headers).filter(([name]) => name !== ':authority' && name !== ':scheme'));
    const up = upstream.request(forwarded);
    let trailers: http2.OutgoingHttpHeaders = {};
    up.on('trailers', (t) => (trailers = t));
    up.on('response', (responseHeaders) => {
      const trailersOnly = 'grpc-status' in responseHeaders;
      stream.respond(responseHeaders, trailersOnly ? { endStream: true } : { waitForTrailers: true });
      if (!trailersOnly) {
        stream.on('wantTrailers', () => stream.sendTrailers(trailers));
        up.pipe(stream);
      }
    });
    stream.pipe(up);
    stream.on('close', () => up.close());
    up.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => up.close(http2.constants.NGHTTP2_CANCEL));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    refused: () => refused,
    close() {
      for (const session of sessions) session.destroy();
      server.close();
      upstream.destroy();
    },
  };
}

let db: TestDatabase;
let temporal: DevServer;
let proxy: DenyingProxy;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startDevServer();
  proxy = await startOperatorDenyingProxy(temporal.address);
  env = {
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TASK_QUEUE: `rights-${randomUUID()}`,
    TASK_RETRY_BACKOFF_SECONDS: '1',
  };
});
afterAll(async () => {
  proxy?.close();
  await temporal?.stop();
  await db?.drop();
});

test('`goalkeeper setup` creates the schedule although the search attributes are refused, reports both, exits non-zero', async () => {
  const result = await runCli(['setup'], env);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/search attributes on default: FAILED: .*unauthorized/i);
  expect(result.stdout).toMatch(/schedule goalkeeper-fleet-check created: a fleet check every 300s, overlap SKIP/);
  expect(result.stderr).toContain('setup incomplete: search attributes on default failed');
  expect(proxy.refused()).toBeGreaterThan(0);

  const connection = await Connection.connect({ address: temporal.address });
  try {
    const schedule = await new Client({ connection }).schedule.getHandle('goalkeeper-fleet-check').describe();
    expect(schedule.action).toMatchObject({ workflowType: 'fleetCheckWorkflow', taskQueue: env.TEMPORAL_TASK_QUEUE });
  } finally {
    await connection.close();
  }
});

test('`goalkeeper worker` without operator rights warns and keeps working', async () => {
  // What an operator with the rights would have done (`goalkeeper setup` on the real address):
  // the goal workflow upserts these attributes, so they must exist for it to run.
  const connection = await Connection.connect({ address: temporal.address });
  try {
    await ensureSearchAttributes(connection, 'default');
  } finally {
    await connection.close();
  }
  const refusedBefore = proxy.refused();
  const worker = spawnCli(['worker'], env);
  try {
    await eventually(async () => worker.output().includes('worker running'), 'the worker to run', 30_000);
    expect(worker.exitCode).toBeNull();
    // (Not the whole message: log redaction hides the test database's password, "goalkeeper",
    // wherever it appears, the command name in the hint included.)
    expect(worker.output()).toMatch(/"err":"7 PERMISSION_DENIED[^"]*".*"msg":"could not register search attributes; run `[^`]+ setup` with operator rights"/);
    expect(proxy.refused()).toBeGreaterThan(refusedBefore);
    // The schedule needs no operator rights: the worker ensures it (updated: setup created it).
    await eventually(async () => worker.output().includes('fleet check schedule ready'), 'the worker to ensure the fleet check schedule', 30_000);
    expect(worker.output()).toMatch(/"outcome":"updated"[^\n]*"msg":"fleet check schedule ready"|"msg":"fleet check schedule ready"[^\n]*"outcome":"updated"/);

    // It really works through the same proxy: a goal heals.
    const ws = await insertWorkspace(db.pool);
    await insertAgent(db.pool, ws, { status: 'available' });
    const goal = await insertGoal(db.pool, ws);
    const heal = await runCli(['heal', goal, '--wait', '--timeout', '60'], env);
    expect({ code: heal.code, stderr: heal.stderr }).toEqual({ code: 0, stderr: '' });
    const tasks = await goalTasks(db.pool, goal);
    expect(tasks).toHaveLength(1);
    expect(tasks[0].agent_status).toBe('available');
  } finally {
    expect(await stopProcess(worker)).toBe(0);
  }
});
