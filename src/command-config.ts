/**
 * The one way every command finds what it talks to. Where the environment names neither a
 * database (DATABASE_URL, SUPABASE_URL) nor Temporal (TEMPORAL_ADDRESS), a running `goalkeeper up`
 * (`npm start`) on the same GOALKEEPER_DATA_DIR supplies what it serves embedded: its record,
 * up.json, names its Postgres URL and dev server address (not always the default ports), and the
 * dev server's Web UI, which alert messages link to unless TEMPORAL_UI_URL names another. Where the
 * environment names either, the stack is not consulted: half of one stack and half of another
 * would send heals to a worker that writes to another database.
 */
import { resolve } from 'node:path';
import { loadConfig, type Config } from './config';
import { readRunningStack, type RunningStackInfo } from './embedded/stack';

export interface ResolvedConfig {
  config: Config;
  /** The running `up` whose embedded parts filled a gap, if any did. */
  running?: RunningStackInfo;
  /** Which settings came from it. */
  fromRunningStack: { database: boolean; temporal: boolean };
}

export function resolveCommandConfig(env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const base = loadConfig(env);
  const unfilled = (databaseLookup?: string): ResolvedConfig => ({
    config: databaseLookup ? { ...base, databaseLookup } : base,
    fromRunningStack: { database: false, temporal: false },
  });
  if (base.env.DATABASE_URL || base.env.SUPABASE_URL) return unfilled();
  if (base.env.TEMPORAL_ADDRESS) return unfilled('a running goalkeeper up is not looked for while TEMPORAL_ADDRESS is set');
  const dataDir = resolve(base.env.GOALKEEPER_DATA_DIR);
  const running = readRunningStack(dataDir);
  if (!running) {
    return unfilled(`no goalkeeper up is running on ${dataDir} (start one with npm start, or set GOALKEEPER_DATA_DIR to its data directory)`);
  }
  const filled: NodeJS.ProcessEnv = { ...env };
  const database = Boolean(running.databaseUrl);
  const temporal = Boolean(running.temporalAddress);
  if (database) filled.DATABASE_URL = running.databaseUrl;
  if (temporal) filled.TEMPORAL_ADDRESS = running.temporalAddress;
  if (temporal && running.uiUrl && !base.env.TEMPORAL_UI_URL) filled.TEMPORAL_UI_URL = running.uiUrl;
  const ownDatabase = `the goalkeeper up running on ${dataDir} (pid ${running.pid}) uses the database its environment names, not an embedded one`;
  if (!database && !temporal) return unfilled(ownDatabase);
  const config = loadConfig(filled);
  return { config: database ? config : { ...config, databaseLookup: ownDatabase }, running, fromRunningStack: { database, temporal } };
}

/** The configuration a command runs on (see resolveCommandConfig). */
export function loadCommandConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return resolveCommandConfig(env).config;
}
