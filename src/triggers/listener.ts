/**
 * The NOTIFY listener: holds its own Postgres connection (a pooled one would drop LISTEN when
 * returned to the pool), LISTENs on the triggers' channel and hands each event to the dispatcher.
 * When the connection drops it reconnects with capped exponential backoff, and after every
 * (re)connect it runs a sweep: a NOTIFY sent while nobody listened is gone, so the sweep is what
 * makes "missed while away" not stay missed.
 */
import { Client } from 'pg';
import type { Logger } from 'pino';
import { isGoalEventKind, type Dispatcher, type GoalEvent } from '../dispatch';
import { isUuid } from '../../workflows/uuid';
import { summaryDescription } from '../temporal/goal-summary';

export const EVENTS_CHANNEL = 'goalkeeper_events';

/** Idle time before the first TCP keepalive probe on the listener's connection. */
export const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

export type ListenerState = 'idle' | 'connecting' | 'listening' | 'reconnecting' | 'stopped';

export interface ListenerOptions {
  databaseUrl: string;
  dispatcher: Pick<Dispatcher, 'dispatch'>;
  /** Runs after every (re)connect; its failure is logged, never fatal (the schedule sweeps too). */
  sweep: () => Promise<unknown>;
  log?: Logger;
  /** The first connect is logged at debug (the caller prints its own ready summary); a reconnect
   * is always news. */
  quietFirstConnect?: boolean;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Parses a NOTIFY payload; null for anything that is not a goal event (logged by the caller). A
 * goal inserted or reopened comes with the start of its description, kept as one bounded line. */
export function parseNotification(payload: string | undefined): GoalEvent | null {
  if (!payload) return null;
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return null;
  }
  const { goal_id: goalId, kind, task_id: taskId, description } = (body ?? {}) as Record<string, unknown>;
  if (!isUuid(goalId) || !isGoalEventKind(kind)) return null;
  const described = summaryDescription(description);
  return { goalId, kind, taskId: isUuid(taskId) ? taskId : null, source: 'listener', ...(described !== undefined ? { description: described } : {}) };
}

/**
 * What is wrong with a payload parseNotification refused, as one word: the log says this and the
 * payload's size, never the payload, which anyone who can NOTIFY on the channel writes (a row's
 * text, a secret pasted by mistake, or megabytes of it).
 */
export function notificationProblem(payload: string | undefined): 'empty' | 'not_json' | 'not_an_object' | 'bad_goal_id' | 'unknown_kind' {
  if (!payload) return 'empty';
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return 'not_json';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'not_an_object';
  const { goal_id: goalId } = body as Record<string, unknown>;
  return isUuid(goalId) ? 'unknown_kind' : 'bad_goal_id';
}

/** Malformed payloads are logged at most once per this window, the line counting the rest: a
 * flood of them must not become a flood of log lines. */
export const MALFORMED_LOG_WINDOW_MS = 60_000;

export class GoalEventListener {
  private client: Client | null = null;
  private stopping = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private _state: ListenerState = 'idle';
  /** Completed (re)connects; each one asked for a sweep. Tests and /healthz read it. */
  connects = 0;
  lastError: string | null = null;
  /** The sweep running now (or the last one), and whether another is owed after it. */
  private sweeping: Promise<void> = Promise.resolve();
  private sweepRunning = false;
  private sweepQueued: Promise<void> | null = null;
  /** Catch-up sweeps run so far (not requested: requests while one runs share one rerun). */
  sweepsRun = 0;
  /** Malformed payloads ignored so far, and when one was last logged (see MALFORMED_LOG_WINDOW_MS). */
  malformed = 0;
  private malformedLoggedAt = -Infinity;
  private malformedSinceLog = 0;

  constructor(private readonly options: ListenerOptions) {}

  get state(): ListenerState {
    return this._state;
  }

  /** Resolves once the first connection listens (or keeps retrying in the background and
   * resolves at once if the first attempt fails: the process stays up and heals later). */
  async start(): Promise<void> {
    this.stopping = false;
    await this.connect();
  }

  /** Resolves when the sweep owed for the latest (re)connect has finished. */
  lastSweep(): Promise<void> {
    return this.sweepQueued ?? this.sweeping;
  }

  /**
   * Single flight: one sweep runs, at most one more is queued. A connection that flaps would
   * otherwise start a full sweep per reconnect, all at once. One rerun after the running sweep is
   * enough: it starts after the latest reconnect, so it sees everything that one could miss.
   */
  private requestSweep(): void {
    // A rerun owed and not yet started covers this request too (checked first: between one
    // sweep's end and the queued one's start, sweepRunning is briefly false).
    if (this.sweepQueued) return;
    if (this.sweepRunning) {
      this.sweepQueued = this.sweeping.then(() => {
        this.sweepQueued = null;
        return this.runSweep();
      });
      return;
    }
    void this.runSweep();
  }

  private runSweep(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.sweepRunning = true;
    this.sweepsRun += 1;
    this.sweeping = this.options
      .sweep()
      .then((totals) => {
        // A sweep that found nothing to do is routine (every connect runs one): debug. One that
        // acted is an event worth a line.
        const acted = Object.entries((totals ?? {}) as Record<string, unknown>).some(
          ([key, value]) => key !== 'seen' && key !== 'alreadyRunning' && typeof value === 'number' && value > 0,
        );
        if (acted) this.options.log?.info({ totals }, 'catch-up sweep done');
        else this.options.log?.debug({ totals }, 'catch-up sweep done: nothing missed');
      })
      .catch((err) => this.options.log?.warn({ err: (err as Error).message }, 'catch-up sweep failed; the scheduled sweep will cover it'))
      .finally(() => {
        this.sweepRunning = false;
      });
    return this.sweeping;
  }

  private async connect(): Promise<void> {
    if (this.stopping) return;
    this._state = this.connects === 0 && this.attempt === 0 ? 'connecting' : 'reconnecting';
    const client = new Client({
      connectionString: this.options.databaseUrl,
      application_name: 'goalkeeper-listener',
      connectionTimeoutMillis: 5_000,
      // Notices a half-open connection (a silently dropped network) instead of waiting forever.
      // The first probe goes out after 10 s idle, not Linux's default 2 hours: LISTEN is idle
      // most of the time, and every minute of an unnoticed dead connection is missed events.
      // (Probe interval and count stay the kernel's: Node 20 cannot set them per socket.)
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_INITIAL_DELAY_MS,
    });
    client.on('notification', (msg) => this.onNotification(msg.payload));
    client.on('error', (err) => this.onLost(client, err));
    client.on('end', () => this.onLost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      this.scheduleReconnect(err as Error);
      return;
    }
    if (this.stopping) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.attempt = 0;
    this.connects += 1;
    this._state = 'listening';
    (this.connects === 1 && this.options.quietFirstConnect ? this.options.log?.debug : this.options.log?.info)?.call(
      this.options.log,
      { channel: EVENTS_CHANNEL, connects: this.connects },
      'listening for goal events; sweeping for missed ones',
    );
    this.requestSweep();
  }

  private onNotification(payload: string | undefined): void {
    const event = parseNotification(payload);
    if (!event) {
      this.malformed += 1;
      this.malformedSinceLog += 1;
      const now = Date.now();
      if (now - this.malformedLoggedAt >= MALFORMED_LOG_WINDOW_MS) {
        this.options.log?.warn(
          { bytes: Buffer.byteLength(payload ?? ''), problem: notificationProblem(payload), ignored: this.malformedSinceLog },
          `ignored malformed goal events on ${EVENTS_CHANNEL} (the next such line at most a minute from now)`,
        );
        this.malformedLoggedAt = now;
        this.malformedSinceLog = 0;
      }
      return;
    }
    // A failed dispatch is logged by the dispatcher, and its onFailed books a catch-up sweep
    // (RecoverySweep, in `goalkeeper start`).
    this.options.dispatcher.dispatch(event).catch(() => undefined);
  }

  private onLost(client: Client, err: Error): void {
    if (this.client !== client) return; // an old connection's late event
    this.client = null;
    client.removeAllListeners('notification');
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    if (this.stopping) return;
    this.scheduleReconnect(err);
  }

  private scheduleReconnect(err: Error): void {
    if (this.stopping) return;
    this.lastError = err.message;
    this._state = 'reconnecting';
    const initial = this.options.initialBackoffMs ?? 250;
    const max = this.options.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, initial * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.options.log?.warn({ err: err.message, retryInMs: Math.round(delay), attempt: this.attempt }, 'listener connection lost; reconnecting');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this._state = 'stopped';
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
    // A queued sweep sees `stopping` and does not run; the running one is awaited.
    await (this.sweepQueued ?? this.sweeping);
  }
}
