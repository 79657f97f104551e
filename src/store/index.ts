/**
 * Picks the store adapter from the configuration: DATABASE_URL → pg, SUPABASE_URL → supabase-js.
 */
import { ConfigError, type Config } from '../config';
import { PgStore } from './pg-store';
import type { HealingStore } from '../../activities/store-port';

export function createStore(config: Config): HealingStore {
  if (config.env.DATABASE_URL) return new PgStore(config.env.DATABASE_URL);
  if (config.env.SUPABASE_URL && config.env.SUPABASE_SERVICE_ROLE_KEY) {
    // Loaded lazily: a pg deployment never needs supabase-js.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { SupabaseStore } = require('./supabase-store') as typeof import('./supabase-store');
    return new SupabaseStore(config.env.SUPABASE_URL, config.env.SUPABASE_SERVICE_ROLE_KEY);
  }
  // A missing setting, like any other bad setting: ConfigError (exit 2) naming the variables, and
  // where a command looked for a running `npm start`'s database.
  const lookup = config.databaseLookup ? `; ${config.databaseLookup}` : '';
  throw new ConfigError([`no database configured: set DATABASE_URL (Postgres) or SUPABASE_URL with SUPABASE_SERVICE_ROLE_KEY${lookup}`]);
}
