/**
 * CI lints the migrations with squawk (squawk-cli, the PostgreSQL migration linter), with the
 * repository's .squawk.toml (which says why each disabled rule is disabled): `npm test` runs this.
 * Its Linux x64 binary is pinned on its own (an optional dependency): the squawk-cli wrapper
 * lists every platform's binary, and the registry this project installs from serves only this
 * one, so a lockfile with the wrapper cannot be installed by `npm ci`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SQUAWK = join(ROOT, 'node_modules', '@squawk-cli', 'linux-x64', 'bin', 'squawk');

function squawk(files: string[]) {
  return spawnSync(SQUAWK, ['--reporter', 'gcc', '--config', join(ROOT, '.squawk.toml'), ...files], { cwd: ROOT, encoding: 'utf8' });
}

test('every migration passes squawk', () => {
  const dir = join(ROOT, 'supabase', 'migrations');
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).map((f) => join(dir, f));
  expect(files.length).toBeGreaterThan(0);
  const run = squawk(files);
  expect({ status: run.status, out: run.stdout + run.stderr }).toEqual({ status: 0, out: expect.any(String) });
});

test('the linter is on: a plain index build on a platform table is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gk-squawk-'));
  try {
    const file = join(dir, '20990101000000_plain_index.sql');
    writeFileSync(file, 'create index if not exists goalkeeper_tasks_by_name_idx on tasks (name);\n');
    const run = squawk([file]);
    expect(run.status).not.toBe(0);
    expect(run.stdout + run.stderr).toMatch(/require-concurrent-index-creation/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
