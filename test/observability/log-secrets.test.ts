/**
 * Secrets never reach the logs: the configuration is logged whole, nested, and with its connection
 * string made fit to log, the way the commands log it; none of the secrets may appear.
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { createLogger, redactUrl } from '../../src/log';

const secrets = {
  password: 'pg-pass-9f3b2c7d',
  webhook: 'whsec-0a1b2c3d4e5f',
  serviceRole: 'eyJhbGciOiJIUzI1NiJ9.service-role-8c7d6e',
  apiKey: 'tmprl-api-key-5e4d3c2b',
};

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

test('logs carry no secret, however the configuration is logged', () => {
  const config = loadConfig({
    DATABASE_URL: `postgres://goalkeeper:${secrets.password}@db.example.com:5432/app`,
    SUPABASE_URL: 'https://project.supabase.co',
    SUPABASE_SERVICE_ROLE_KEY: secrets.serviceRole,
    WEBHOOK_SECRET: secrets.webhook,
    TEMPORAL_ADDRESS: 'ns.a1b2c.tmprl.cloud:7233',
    TEMPORAL_API_KEY: secrets.apiKey,
  });
  const out = capture();
  const log = createLogger('debug', out.stream);
  log.info(config.env, 'environment');
  log.info({ config }, 'configuration');
  log.info({ settings: { nested: config } }, 'nested configuration');
  log.info({ temporal: config.temporal }, 'temporal');
  log.info({ database: redactUrl(config.env.DATABASE_URL) }, 'database');
  log.info({ headers: { authorization: `Bearer ${secrets.serviceRole}`, apikey: secrets.serviceRole } }, 'request');
  log.warn(`could not connect to ${config.env.DATABASE_URL}`);
  log.error({ err: new Error(`connect ECONNREFUSED ${config.env.DATABASE_URL}`) }, 'database unreachable');

  const text = out.text();
  expect(text.split('\n').filter(Boolean)).toHaveLength(8);
  for (const secret of Object.values(secrets)) expect(text).not.toContain(secret);
  // Still useful: what is not secret is there.
  expect(text).toContain('db.example.com');
  expect(text).toContain('ns.a1b2c.tmprl.cloud:7233');
  expect(text).toContain('[redacted]');
});
