/**
 * `goalkeeper env`: the settings the other commands resolve to (src/command-config.ts), as shell
 * assignments (`eval "$(npx goalkeeper env)"` points the commands at the running stack) or JSON.
 * A running stack's DATABASE_URL is its services' login (goalkeeper_runtime only: goalkeeper's
 * functions, no table); its admin URL, for psql and migrate, is printed beside it. The embedded stack's connection string is printed whole: it is local and that is what
 * people need; one from the environment keeps its password to itself.
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { resolveCommandConfig } from '../command-config';
import { redactUrl } from '../log';
import { temporalAddress } from '../temporal/connection';

export interface EnvReport {
  source: 'running goalkeeper up' | 'environment';
  pid?: number;
  DATABASE_URL?: string;
  /** The running stack's embedded admin URL (migrate, psql), beside DATABASE_URL (its services'
   * login, which may call goalkeeper's functions and read no table). */
  adminDatabaseUrl?: string;
  SUPABASE_URL?: string;
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  uiUrl?: string;
  webhookUrl?: string;
  metricsUrl?: string;
}

export class NothingToReportError extends Error {}

export function envReport(env: NodeJS.ProcessEnv = process.env): EnvReport {
  const { config, running, fromRunningStack } = resolveCommandConfig(env);
  const fromStack = fromRunningStack.database || fromRunningStack.temporal;
  if (!fromStack && !config.env.DATABASE_URL && !config.env.SUPABASE_URL && !config.env.TEMPORAL_ADDRESS) {
    throw new NothingToReportError(
      `no goalkeeper up is running on ${resolve(config.env.GOALKEEPER_DATA_DIR)} and DATABASE_URL, SUPABASE_URL and TEMPORAL_ADDRESS are unset: start one with npm start (or set GOALKEEPER_DATA_DIR to its data directory)`,
    );
  }
  return {
    source: fromStack ? 'running goalkeeper up' : 'environment',
    pid: running?.pid,
    DATABASE_URL: fromRunningStack.database ? config.env.DATABASE_URL : redactUrl(config.env.DATABASE_URL),
    adminDatabaseUrl: fromRunningStack.database ? running?.adminDatabaseUrl : undefined,
    SUPABASE_URL: config.env.SUPABASE_URL,
    TEMPORAL_ADDRESS: temporalAddress(config),
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    uiUrl: running?.uiUrl,
    webhookUrl: running?.webhookUrl,
    metricsUrl: running?.metricsUrl,
  };
}

/** A value as a POSIX shell word. */
const shellWord = (value: string) => (/^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);

export function formatEnv(report: EnvReport): string {
  const lines = [`# from the ${report.source}${report.pid ? ` (pid ${report.pid})` : ''}`];
  for (const key of ['DATABASE_URL', 'SUPABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE'] as const) {
    const value = report[key];
    if (value) lines.push(`${key}=${shellWord(value)}`);
  }
  if (report.adminDatabaseUrl) lines.push(`# admin, for migrate and your own SQL (DATABASE_URL reads no table): ${report.adminDatabaseUrl}`);
  if (report.uiUrl) lines.push(`# Temporal Web UI: ${report.uiUrl}`);
  if (report.webhookUrl) lines.push(`# webhook: ${report.webhookUrl}`);
  if (report.metricsUrl) lines.push(`# metrics: ${report.metricsUrl}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('env')
    .description('print the database URL and Temporal address the commands use (a running `goalkeeper up`\'s embedded ones, or the environment\'s)')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const report = envReport();
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatEnv(report));
    });
}
