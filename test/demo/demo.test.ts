/**
 * `goalkeeper demo` end to end, as a user runs it: the built CLI in a child process on the embedded
 * default (its own Postgres and Temporal dev server under a temporary data directory). It must heal
 * the incident and exit 0 having stopped everything it started; when healing cannot succeed it must
 * exit non-zero with the reason. The second run reuses the first's data directory (a restart).
 * Runs the compiled dist/ (`npm test` builds first), since that is what `npm run demo` runs.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
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

test('heals the six goals of the 2025-09-04 incident, exits 0 and stops what it started', async () => {
  const { code, output } = await runCli(['demo'], embeddedEnv(), 110_000);
  expect({ code, tail: output.slice(-3000) }).toMatchObject({ code: 0 });
  expect(output).toContain('seeded the 2025-09-04 incident');
  expect(output).toContain('all 6 goals healed');
  const links = output.match(/http:\/\/localhost:\d+\/namespaces\/default\/workflows\/goal-[0-9a-f-]{36}/g) ?? [];
  expect(new Set(links).size).toBe(6);
  // The final table: every task runnable again, with an agent the executor runs.
  const finalRows = output.split('\n').filter((l) => l.startsWith('│') && l.includes('healthy'));
  expect(finalRows).toHaveLength(6);
  for (const row of finalRows) expect(row).toMatch(/pending .*\((available|active)\)/);
  // Postgres was stopped cleanly (it removes its pid file) and its data stayed for next time.
  expect(existsSync(join(dataDir, 'pg', 'postmaster.pid'))).toBe(false);
  expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true);
  expect(existsSync(join(dataDir, 'temporal.db'))).toBe(true);
});

test('exits non-zero with the reason when the goals cannot be healed in time', async () => {
  // No agent may be provisioned and none is assignable: healing is impossible by construction.
  const { code, output } = await runCli(['demo', '--timeout', '6'], embeddedEnv({ MAX_AUTO_PROVISIONED_AGENTS: '0' }), 90_000);
  expect(code).toBe(1);
  expect(output).toMatch(/6 of 6 goals not healed within 6s/);
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
