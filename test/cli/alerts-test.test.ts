/**
 * `goalkeeper alerts test` against a local receiver, as a real child process of the built CLI:
 * one message sent now, the receiver's answer printed, the URL never.
 */
import { freePort } from '../../src/embedded/postgres';
import { runCli } from '../support/cli';
import { startAlertReceiver, type AlertReceiver } from '../support/alert-receiver';

let receiver: AlertReceiver;
beforeAll(async () => {
  receiver = await startAlertReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

test('sends one test message, in the alerts\' own shape, and says what the receiver answered', async () => {
  receiver.script([200]);
  const r = await runCli(['alerts', 'test'], { ALERT_WEBHOOK_URL: receiver.url, TEMPORAL_UI_URL: 'http://localhost:8233' });
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^test alert delivered: the receiver answered HTTP 200 OK: ok$/m);
  expect(receiver.received).toHaveLength(1);
  const [sent] = receiver.received;
  expect(sent.body).toMatchObject({
    status: 'open',
    issue_type: 'TEST',
    severity: 'info',
    task_id: null,
    text: expect.stringContaining('goalkeeper alerts test'),
    workflow_url: expect.stringMatching(/^http:\/\/localhost:8233\/namespaces\/default\/workflows\//),
  });
  expect(sent.headers['idempotency-key']).toBe(sent.body.idempotency_key);
  expect(`${r.stdout}${r.stderr}`).not.toContain(receiver.token);
});

test('a receiver that refuses it exits 1 with its answer, and the URL stays out of the output', async () => {
  receiver.script([400]);
  const r = await runCli(['alerts', 'test'], { ALERT_WEBHOOK_URL: receiver.url });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('test alert refused: the receiver answered HTTP 400 Bad Request: invalid_payload');
  expect(`${r.stdout}${r.stderr}`).not.toContain(receiver.token);
});

test('a receiver that cannot be reached exits 1 saying so, without the URL', async () => {
  // A free loopback port nobody listens on.
  const url = receiver.url.replace(/:\d+\//, `:${await freePort()}/`);
  const r = await runCli(['alerts', 'test'], { ALERT_WEBHOOK_URL: url });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/test alert not delivered: the alert webhook could not be reached: .*ECONNREFUSED/);
  expect(`${r.stdout}${r.stderr}`).not.toContain(receiver.token);
});

test('without ALERT_WEBHOOK_URL it exits 2 naming the setting', async () => {
  const r = await runCli(['alerts', 'test'], {});
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('ALERT_WEBHOOK_URL must be set');
});
