/**
 * `goalkeeper demo` end to end, as a user runs it: the built CLI in a child process on the embedded
 * default (its own Postgres and Temporal dev server under a temporary data directory). It must heal
 * the incident and exit 0 having stopped everything it started; when healing cannot succeed it must
 * exit non-zero with the reason. The second run reuses the first's data directory (a restart).
 * Runs the compiled dist/ (`npm test` builds first), since that is what `npm run demo` runs.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'goalkeeper-demo-'));
// As root, embedded Postgres runs as a `postgres` user that must reach its directory inside this one.
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** The embedded-only environment: none of the variables that would make a part external. */
function embeddedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GOALKEEPER_DATA_DIR: dataDir, ...extra };
  for (const name of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TEMPORAL_ADDRESS', 'TASK_RETRY_BACKOFF_SECONDS', 'METRICS_PORT']) delete env[name];
  return env;
}

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  deadlineMs: number,
  onOutput?: (output: string, child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; output: string }> {
  if (!existsSync(join(root, 'dist', 'src', 'cli.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does)');
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'goalkeeper.js'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const take = (c: Buffer) => {
      output += c.toString();
      onOutput?.(output, child);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // by handle
      reject(new Error(`demo still running after ${deadlineMs} ms:\n${output}`));
    }, deadlineMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, output });
    });
  });
}

/** Well under the default TASK_RETRY_BACKOFF_SECONDS (60): a demo that waited out a retry backoff
 * fails. The incident's tasks failed for want of an agent, and such tasks are retried at once. */
const HEAL_TIMEOUT_SECONDS = '30';

test('heals the six goals of the 2025-09-04 incident and a goal with a stuck task, prints the heal report, exits 0 and stops what it started', async () => {
  const { code, output } = await runCli(['demo', '--timeout', HEAL_TIMEOUT_SECONDS], embeddedEnv(), 110_000);
  expect({ code, tail: output.slice(-3000) }).toMatchObject({ code: 0 });
  expect(output).toContain('seeded the 2025-09-04 incident');
  // Its worker ran as the login holding only goalkeeper_runtime (test/e2e/up.test.ts shows what
  // that login can and cannot do); the seeding, as the admin.
  expect(output).toContain('services connect as goalkeeper_service (goalkeeper_runtime only)');
  expect(output).toContain('all 7 goals healed');
  const links = output.match(/http:\/\/localhost:\d+\/namespaces\/default\/workflows\/goal-[0-9a-f-]{36}/g) ?? [];
  expect(new Set(links).size).toBe(7);
  // The final table: every task runnable again, with an agent the executor runs.
  const finalRows = output.split('\n').filter((l) => l.startsWith('│') && l.includes(' healthy │'));
  expect(finalRows).toHaveLength(7);
  for (const row of finalRows) expect(row).toMatch(/pending .*\((available|active)\)/);
  // The stuck task was put back with another agent than the busy one it was stuck with.
  expect(finalRows.find((r) => r.includes('Translate the help centre'))).not.toContain('Translator');
  // The heal report of the demo's workspace: the retries and the stuck task put back.
  expect(output).toContain('the heal report (goalkeeper report --workspace');
  expect(output).toMatch(/task_retried\D+6\b/);
  expect(output).toMatch(/task_requeued\D+1\b/);
  // Postgres was stopped cleanly (it removes its pid file) and its data stayed for next time.
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
  expect(existsSync(join(dataDir, 'temporal.db'))).toBe(true);
  // Its servers are gone with it; it says how to open the links again.
  expect(output).toContain(`these links open while goalkeeper runs: \`npm start\` serves them again from the same data (${dataDir}), on the Web UI it prints.`);
  // The demo's worker keeps the SDK's INFO (webpack's report, state changes) off the screen.
  for (const noise of ['webpack', 'Worker state changed']) expect(output).not.toContain(noise);
  demoLinks = links;
});

/** The links the first test's demo printed; a test run alone runs the demo first. */
let demoLinks: string[] = [];
async function linksOfADemo(): Promise<string[]> {
  if (demoLinks.length) return demoLinks;
  const { code, output } = await runCli(['demo', '--timeout', HEAL_TIMEOUT_SECONDS], embeddedEnv(), 110_000);
  expect(code).toBe(0);
  demoLinks = output.match(/http:\/\/localhost:\d+\/namespaces\/default\/workflows\/goal-[0-9a-f-]{36}/g) ?? [];
  return demoLinks;
}

test("after the demo, `npm start` on the same data serves its goals' links; `demo --json` on that running stack exits 0 with JSON", async () => {
  const links = await linksOfADemo();
  expect(new Set(links).size).toBe(7);
  const up = spawn(process.execPath, [join(root, 'bin', 'goalkeeper.js'), 'up'], {
    cwd: root,
    // The default retry backoff (embeddedEnv unsets TASK_RETRY_BACKOFF_SECONDS): its worker heals.
    env: embeddedEnv({ LOG_FORMAT: 'json', HTTP_PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let upOutput = '';
  up.stdout.on('data', (c) => (upOutput += c));
  up.stderr.on('data', (c) => (upOutput += c));
  const upExited = new Promise<number | null>((done) => up.once('exit', (code) => done(code)));
  try {
    await new Promise<void>((ready, fail) => {
      const check = () => (upOutput.includes('"msg":"goalkeeper is up"') ? ready() : undefined);
      up.stdout.on('data', check);
      upExited.then(() => fail(new Error(`goalkeeper up exited:\n${upOutput}`)));
    });
    const info = JSON.parse(readFileSync(join(dataDir, 'up.json'), 'utf8')) as { uiUrl: string };
    // The same path on this run's Web UI (the same port, unless another process holds it).
    for (const link of links.slice(0, 2)) {
      const path = new URL(link).pathname;
      const page = await fetch(`${info.uiUrl}${path}`);
      expect(page.status).toBe(200);
      const goalId = path.split('/goal-')[1];
      const api = await fetch(`${info.uiUrl}/api/v1/namespaces/default/workflows/goal-${goalId}`);
      expect(api.status).toBe(200);
    }

    // Attached to the running stack (its worker heals, on its default backoff), JSON on stdout alone.
    const demo = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
      const args = [join(root, 'bin', 'goalkeeper.js'), 'demo', '--json', '--timeout', HEAL_TIMEOUT_SECONDS];
      const child = spawn(process.execPath, args, { cwd: root, env: embeddedEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      // Its own --timeout should end it first; this catches a demo that ignores it.
      const timer = setTimeout(() => {
        child.kill('SIGKILL'); // by handle
        fail(new Error(`the attached demo still ran after 45 s:\n${stderr}`));
      }, 45_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        done({ code, stdout, stderr });
      });
    });
    expect({ code: demo.code, stderr: demo.stderr.slice(-2000) }).toMatchObject({ code: 0 });
    expect(demo.stderr).toContain('using the goalkeeper already running');
    expect(demo.stderr).not.toContain('TASK_RETRY_BACKOFF_SECONDS');
    const result = JSON.parse(demo.stdout) as { goals: Array<{ healedInMs: number }> };
    expect(result.goals).toHaveLength(7);
    expect(Math.max(...result.goals.map((g) => g.healedInMs))).toBeLessThan(Number(HEAL_TIMEOUT_SECONDS) * 1000);
    expect(demo.stdout).not.toContain('\x1b[');
  } finally {
    up.kill('SIGINT'); // by handle
    expect(await upExited).toBe(0);
  }
}, 120_000);

test('exits non-zero with the reason when the goals cannot be healed in time', async () => {
  // No agent may be provisioned and none is assignable: healing is impossible by construction.
  const { code, output } = await runCli(['demo', '--timeout', '6'], embeddedEnv({ MAX_AUTO_PROVISIONED_AGENTS: '0' }), 90_000);
  expect(code).toBe(1);
  expect(output).toMatch(/7 of 7 goals not healed within 6s/);
  expect(output).toContain('NO_AGENTS_AVAILABLE');
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
});

test('Ctrl-C stops it at once, says so, and stops what it started', async () => {
  // Healing is impossible (as above), so without the interrupt it would poll on for 60 s.
  let sentAt = 0;
  const { code, output } = await runCli(['demo', '--timeout', '60'], embeddedEnv({ MAX_AUTO_PROVISIONED_AGENTS: '0' }), 90_000, (out, child) => {
    if (!sentAt && out.includes('seeded the 2025-09-04 incident')) {
      sentAt = Date.now();
      child.kill('SIGINT'); // by handle, as a terminal's Ctrl-C reaches the CLI
    }
  });
  expect(sentAt).toBeGreaterThan(0);
  expect({ code, tail: output.slice(-2000) }).toMatchObject({ code: 1 });
  expect(output).toContain('interrupted');
  expect(output).not.toMatch(/not healed within/);
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
});
