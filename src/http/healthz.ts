/**
 * /healthz's answers, from a short cache: a load balancer, Kubernetes and a curious caller may
 * probe many times a second, and each probe must not become a database query and a Temporal
 * call. Within HEALTHZ_CACHE_MS every probe gets the last answer; after it, the first probe
 * starts one check that every probe arriving meanwhile waits for (single flight), so probes never
 * cost more than one check per window whatever their number.
 *
 * The database is checked on a connection of its own (DatabaseProbe), not the healing pool's:
 * a pool busy healing a flood must not make the process look dead, and a flood of probes must
 * not take connections from healing.
 */
import { Client } from 'pg';
import { withTimeout } from '../concurrency';

/** How long one /healthz answer is reused. Short: a probe wants to see a failure within seconds. */
export const HEALTHZ_CACHE_MS = 2_000;

export type ComponentState = { ok: boolean; state: string; detail?: string };
export type ComponentStates = Record<string, ComponentState>;

export class HealthCache {
  private last: { at: number; states: ComponentStates } | null = null;
  private running: Promise<ComponentStates> | null = null;
  /** Checks run so far (tests read it: probes must not each cost a check). */
  checks = 0;

  constructor(
    private readonly check: () => Promise<ComponentStates>,
    private readonly ttlMs = HEALTHZ_CACHE_MS,
    private readonly clock: () => number = Date.now,
  ) {}

  async get(): Promise<ComponentStates> {
    if (this.last && this.clock() - this.last.at < this.ttlMs) return this.last.states;
    if (!this.running) {
      this.checks += 1;
      this.running = this.check()
        .then((states) => {
          this.last = { at: this.clock(), states };
          return states;
        })
        .finally(() => {
          this.running = null;
        });
    }
    return this.running;
  }
}

/**
 * `select 1` over one Postgres connection kept for it, opened on first use and again after it
 * fails (a restarted database, a dropped network): the answer is about the database, not about
 * whether the healing pool has a free connection.
 */
export class DatabaseProbe {
  private client: Client | null = null;
  private connecting: Promise<Client> | null = null;

  constructor(
    private readonly databaseUrl: string,
    private readonly timeoutMs = 3_000,
  ) {}

  async check(): Promise<void> {
    try {
      const client = await withTimeout(this.connection(), this.timeoutMs);
      await withTimeout(client.query('select 1'), this.timeoutMs);
    } catch (err) {
      await this.drop();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.drop();
  }

  private connection(): Promise<Client> {
    if (this.client) return Promise.resolve(this.client);
    if (!this.connecting) {
      const client = new Client({ connectionString: this.databaseUrl, application_name: 'goalkeeper-healthz', connectionTimeoutMillis: this.timeoutMs });
      // An error between probes (the server went away) only means the next probe reconnects.
      client.on('error', () => {
        if (this.client === client) this.client = null;
      });
      this.connecting = client
        .connect()
        .then(() => {
          this.client = client;
          return client;
        })
        .catch(async (err) => {
          await client.end().catch(() => undefined);
          throw err;
        })
        .finally(() => {
          this.connecting = null;
        });
    }
    return this.connecting;
  }

  private async drop(): Promise<void> {
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }
}
