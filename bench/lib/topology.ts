/**
 * Which Temporal a bench scenario runs against: `dev`, the `temporal server start-dev` that
 * goalkeeper embeds (SQLite), or `postgres`, a real Temporal server with PostgreSQL persistence and
 * SQL visibility (bench/lib/temporal-postgres.ts). Both give an address, the process trees whose
 * CPU is Temporal's, and a stop.
 */
import { InvalidArgumentError } from 'commander';
import { startDevServer } from '../../test/support/servers';
import { HISTORY_SHARDS, startPostgresTemporal } from './temporal-postgres';

export const TOPOLOGIES = ['dev', 'postgres'] as const;
export type Topology = (typeof TOPOLOGIES)[number];

export function parseTopology(value: string): Topology {
  if ((TOPOLOGIES as readonly string[]).includes(value)) return value as Topology;
  // commander prints this one line (no stack) and exits.
  throw new InvalidArgumentError(`must be one of ${TOPOLOGIES.join(', ')}; got "${value}"`);
}

export interface TemporalTopology {
  address: string;
  /** What the result file records about the server. */
  describe: Record<string, unknown>;
  /** Root pids of Temporal's process trees (CPU is read per tree). */
  roots(): Record<string, number | undefined>;
  /** Transactions committed so far in Temporal's own databases, where they are Postgres. */
  xactCommits?(): Promise<number>;
  stop(): Promise<void>;
}

export async function startTopology(topology: Topology): Promise<TemporalTopology> {
  if (topology === 'dev') {
    const dev = await startDevServer();
    return {
      address: dev.address,
      describe: { topology, server: 'temporal server start-dev (SQLite)' },
      roots: () => ({ temporal: dev.pid() }),
      stop: () => dev.stop(),
    };
  }
  const server = await startPostgresTemporal();
  return {
    address: server.address,
    describe: { topology, server: `temporal-server v${server.version}`, persistence: 'PostgreSQL (own cluster), SQL visibility', historyShards: HISTORY_SHARDS },
    roots: server.roots,
    xactCommits: server.xactCommits,
    stop: () => server.stop(),
  };
}
