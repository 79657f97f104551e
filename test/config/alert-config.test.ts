/**
 * The alert settings: ALERT_WEBHOOK_URL turns delivery on in the healing policy without the URL
 * ever entering it (the policy goes into every goal's history), and a bad URL is refused without
 * being echoed (it is a secret); the log scrubber takes it out of any line.
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { createLogger, refreshSecretValues } from '../../src/log';
import { policyProblem } from '../../workflows/policy';

const HOOK = 'https://hooks.slack.com/services/T000/B000/sEcReTtOkEn0123456789';

afterEach(() => refreshSecretValues(process.env));

test('ALERT_WEBHOOK_URL turns alertDelivery on; the policy carries the fact, never the URL', () => {
  const config = loadConfig({ ALERT_WEBHOOK_URL: HOOK, TEMPORAL_UI_URL: 'http://localhost:8233' });
  expect(config.policy.alertDelivery).toBe(true);
  expect(config.alerts).toEqual({ webhookUrl: HOOK, temporalUiUrl: 'http://localhost:8233' });
  expect(JSON.stringify(config.policy)).not.toContain('hooks.slack.com');
  expect(policyProblem(config.policy)).toBeNull();
  expect(loadConfig({}).policy.alertDelivery).toBe(false);
});

test('a policy without a boolean alertDelivery is refused, naming it', () => {
  const { alertDelivery: _, ...rest } = loadConfig({}).policy;
  expect(policyProblem(rest)).toBe('alertDelivery must be true or false');
  expect(policyProblem({ ...rest, alertDelivery: 'yes' })).toBe('alertDelivery must be true or false');
});

test('a bad ALERT_WEBHOOK_URL or TEMPORAL_UI_URL is refused naming the setting, without echoing the value', () => {
  expect(() => loadConfig({ ALERT_WEBHOOK_URL: 'not a url sEcReT' })).toThrow(/ALERT_WEBHOOK_URL must be a URL \(https: or http:\), got an unparsable value/);
  expect(() => loadConfig({ ALERT_WEBHOOK_URL: 'ftp://example.com/sEcReT' })).toThrow(/ALERT_WEBHOOK_URL must use https: or http:, got "ftp:"/);
  try {
    loadConfig({ ALERT_WEBHOOK_URL: 'not a url sEcReT' });
  } catch (err) {
    expect((err as Error).message).not.toContain('sEcReT');
  }
  expect(() => loadConfig({ TEMPORAL_UI_URL: 'localhost:8233' })).toThrow(/TEMPORAL_UI_URL must use https: or http:/);
});

test('the log scrubs the webhook URL from any line, wherever it appears', () => {
  refreshSecretValues({ ALERT_WEBHOOK_URL: HOOK });
  let out = '';
  const log = createLogger('info', new Writable({ write: (chunk, _enc, done) => ((out += chunk), done()) }));
  log.info({ detail: `POST ${HOOK} failed` }, `could not reach ${HOOK}`);
  expect(out).toContain('[redacted]');
  expect(out).not.toContain('sEcReTtOkEn');
});
