/**
 * /healthz from its cache, the read routes' own token, and /metrics on HTTP_HOST: the HTTP server
 * and the metrics server over real sockets. The health function is the server's dependency here
 * (one that counts its calls); the whole process's /healthz, on real Postgres and Temporal, is in
 * webhook.test.ts.
 */
import { networkInterfaces } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildHttpServer } from '../../src/http/server';
import type { ComponentStates } from '../../src/http/healthz';
import { freePort } from '../../src/embedded/postgres';
import { startMetricsServer } from '../../src/observability';
import { refreshSecretValues, scrubSecrets, secretValues } from '../../src/log';
import { eventually } from '../support/services-env';

const OPERATOR = 'healthz-test-operator-token-0123';
const noDispatch = { dispatch: async () => 'signalled' as const };

async function serve(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

test('probes share one check per cache window, however many arrive at once', async () => {
  let checks = 0;
  let release!: () => void;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const app = buildHttpServer({
    dispatcher: noDispatch,
    operatorToken: OPERATOR,
    healthCacheMs: 200,
    health: async (): Promise<ComponentStates> => {
      checks += 1;
      await gate;
      return { database: { ok: true, state: 'reachable' } };
    },
  });
  const base = await serve(app);
  try {
    // 50 probes while the first check is still running: they all wait for that one.
    const probes = Array.from({ length: 50 }, () => fetch(`${base}/healthz`));
    await eventually(async () => checks === 1, 'the first check to start');
    release();
    const answers = await Promise.all(probes);
    expect(answers.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(checks).toBe(1);
    // Within the window: from the cache.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(checks).toBe(1);
    // Past it, the next probe checks again.
    gate = Promise.resolve();
    await eventually(async () => (await fetch(`${base}/healthz`)).ok && checks === 2, 'a check after the window');
  } finally {
    await app.close();
  }
});

test('an unhealthy part: 503 and ok false to anyone; which part and why only with the operator token', async () => {
  const app = buildHttpServer({
    dispatcher: noDispatch,
    operatorToken: OPERATOR,
    health: async () => ({
      worker: { ok: true, state: 'running' },
      database: { ok: false, state: 'unreachable', detail: 'connect ECONNREFUSED 10.1.2.3:5432' },
    }),
  });
  const base = await serve(app);
  try {
    const anonymous = await fetch(`${base}/healthz`);
    expect({ status: anonymous.status, body: await anonymous.json() }).toEqual({ status: 503, body: { ok: false } });
    const operator = await fetch(`${base}/healthz`, { headers: { authorization: `Bearer ${OPERATOR}` } });
    expect(operator.status).toBe(503);
    expect(await operator.json()).toMatchObject({ ok: false, components: { database: { ok: false, detail: expect.stringContaining('ECONNREFUSED') } } });
  } finally {
    await app.close();
  }
});

test('without OPERATOR_TOKEN the read routes refuse every call and say why; /healthz still answers ok or not', async () => {
  const app = buildHttpServer({ dispatcher: noDispatch, webhookSecret: 'a-webhook-secret-of-some-length', health: async () => ({}) });
  const base = await serve(app);
  try {
    for (const path of ['/goals', '/workspaces/00000000-0000-4000-8000-00000000beef/health', '/report']) {
      const res = await fetch(`${base}${path}`, { headers: { authorization: 'Bearer a-webhook-secret-of-some-length' } });
      expect({ path, status: res.status, body: await res.json() }).toEqual({
        path,
        status: 503,
        body: { error: 'reads_disabled', message: expect.stringContaining('OPERATOR_TOKEN is not set') },
      });
    }
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });
  } finally {
    await app.close();
  }
});

test('/metrics listens on the host it is given (HTTP_HOST), not on every interface', async () => {
  const port = await freePort();
  const server = await startMetricsServer(port, { host: '127.0.0.1' });
  try {
    expect(server.host).toBe('127.0.0.1');
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(200);
    // Another of this machine's addresses, if it has one, is refused.
    const other = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (other) await expect(fetch(`http://${other.address}:${server.port}/metrics`)).rejects.toThrow();
  } finally {
    await server.close();
  }
});

test('OPERATOR_TOKEN is a secret to the logs, as WEBHOOK_SECRET is: scrubbed from any text, redacted under its name', () => {
  refreshSecretValues({ OPERATOR_TOKEN: OPERATOR });
  try {
    expect(secretValues({ OPERATOR_TOKEN: OPERATOR })).toContain(OPERATOR);
    expect(JSON.stringify(scrubSecrets({ message: `refused Bearer ${OPERATOR}`, nested: { note: OPERATOR } }))).not.toContain(OPERATOR);
  } finally {
    refreshSecretValues({});
  }
});
