/**
 * The dispatcher the event paths go through (NOTIFY listener, Supabase webhook): it turns
 * "something happened to goal X" into the single Temporal call that makes goal-<X> act on it.
 * (The sweep calls startGoal directly, the same idempotent start as here; catching up for the
 * listener, it sends healGoal's event heal for goals whose tasks need one, as a task event would.)
 *
 * Correctness comes from Temporal and SQL, not from here: starts use workflow id conflict policy
 * USE_EXISTING (one workflow per goal, no matter how many callers), heals are signal-with-start
 * (a closed goal's is a plain signal: see CLOSE_KINDS), and the healing SQL functions are
 * idempotent. The in-memory dedupe only saves calls when one event arrives by several paths
 * within a moment.
 *
 * Bursts: starts are capped in flight, and a goal workflow's start and first task cost the
 * Temporal server far more than the heal itself, so thousands of goals created at once queue
 * here, and the last would wait minutes for its task. Once `burstHeal.threshold` starts wait for a
 * slot, new goals go to a burst queue instead: a burst heal (one workflow, one activity, the same
 * SQL function their own workflows call: workflows/burst-heal.ts) heals up to
 * MAX_BURST_HEAL_GOALS of them at a time, and their starts join the queue once the burst queue is
 * empty (or MAX_DEFERRED_STARTS wait): healing first, since starts compete with it for the same
 * CPU and a healed goal loses little by being supervised a few seconds later. So every goal of the
 * burst gets its task in bulk, and each goal's own workflow still starts, finds it healed, and
 * supervises it from then on. A failed burst heal costs only time: its goals' starts join the
 * queue all the same, and their first cycle heals them.
 */
import type { Logger } from 'pino';
import { WorkflowNotFoundError } from '@temporalio/client';
import { healGoal, signalHeal, startGoal, type GoalTarget } from './temporal/goal-client';
import { MAX_BURST_HEAL_GOALS } from '../workflows/messages';
import type { BurstHealTotals } from '../workflows/types';

export const GOAL_EVENT_KINDS = [
  'goal_created',
  'goal_reopened',
  'goal_closed',
  'task_failed',
  'task_without_agent',
] as const;
export type GoalEventKind = (typeof GOAL_EVENT_KINDS)[number];

export type EventSource = 'listener' | 'webhook' | 'sweep' | 'cli';

export interface GoalEvent {
  goalId: string;
  kind: GoalEventKind;
  taskId?: string | null;
  source: EventSource;
}

/** not_running: a goal_closed event for a goal with no running workflow, so nothing to do. */
export type DispatchOutcome = 'started' | 'already_running' | 'signalled' | 'not_running' | 'deduplicated';

/** Burst-healed goals whose starts may wait for the burst queue to drain: beyond this, they are
 * let go at once, so a burst that never ends still gets its goals supervised. */
const MAX_DEFERRED_STARTS = 10 * MAX_BURST_HEAL_GOALS;

/** After a burst heal fails (no worker, Temporal or the database away), goals take the plain path
 * for this long, so a dead end costs one batch's wait, not one per batch. */
const BURST_HEAL_COOLDOWN_MS = 60_000;

/** A burst's first batch waits this long to gather the rest of the burst: one INSERT of
 * thousands of goals reaches the listener over a few milliseconds, not in one event. */
const BURST_GATHER_MS = 20;

/** Starting is enough for these: a new (or newly running) workflow heals on its first cycle, and
 * a running one would heal anyway, so no signal grows its history. */
const START_KINDS: ReadonlySet<GoalEventKind> = new Set(['goal_created', 'goal_reopened']);

/** Only a running workflow has anything to do about these (end itself with a summary): a plain
 * signal, never signal-with-start, so a closed goal with no workflow gets no throwaway run. */
const CLOSE_KINDS: ReadonlySet<GoalEventKind> = new Set(['goal_closed']);

export function isGoalEventKind(value: unknown): value is GoalEventKind {
  return typeof value === 'string' && (GOAL_EVENT_KINDS as readonly string[]).includes(value);
}

export interface DispatcherOptions {
  /** How long the same (goal, kind, task) is answered from memory. 0 turns dedupe off. */
  dedupeMs?: number;
  /** Temporal calls in flight at once; the rest wait their turn (a 10,000-row INSERT must not
   * open 10,000 calls at once). */
  maxInFlight?: number;
  log?: Logger;
  /** Told of each workflow this dispatcher started (the process's metrics count them). */
  onStarted?: (eagerly: boolean) => void;
  /** Absent: every goal's first heal is its own workflow's. */
  burstHeal?: BurstHealOptions;
}

export interface BurstHealOptions {
  /** Goal starts waiting for a slot at which the waiting goals are healed in bulk (≥ 1). */
  threshold: number;
  /** Heals the goals (healBurst: a burstHealWorkflow) and resolves with what it did. */
  run: (goalIds: string[]) => Promise<BurstHealTotals>;
  /** Told of each burst heal's end (the process's metrics count them). */
  onDone?: (outcome: 'healed' | 'failed', goals: number) => void;
}

export interface DispatchCounts {
  started: number;
  /** Of `started`: handed straight to this process's worker in the start's answer (eager start). */
  startedEagerly: number;
  alreadyRunning: number;
  signalled: number;
  notRunning: number;
  deduplicated: number;
  failed: number;
  /** Burst heals finished, and the goals they covered (their starts still counted above). */
  burstHeals: number;
  burstHealedGoals: number;
  burstHealsFailed: number;
}

interface BurstEntry {
  event: GoalEvent;
  /** Called with the goal's start once it is queued; the dispatch resolves with its outcome. */
  done: (start: Promise<DispatchOutcome>) => void;
}

export class Dispatcher {
  private readonly recent = new Map<string, { at: number; result: Promise<DispatchOutcome> }>();
  private readonly dedupeMs: number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  /** Goal starts waiting for a burst heal, in arrival order; each resolves once its start is
   * queued (send), with that start's outcome. */
  private readonly burstQueue: BurstEntry[] = [];
  /** Burst-healed goals whose starts wait for the burst queue to drain. */
  private readonly deferredStarts: BurstEntry[] = [];
  private burstHealRunning = false;
  private burstHealFailedAt = -Infinity;
  private burstGathering: NodeJS.Timeout | null = null;
  readonly counts: DispatchCounts = {
    started: 0,
    startedEagerly: 0,
    alreadyRunning: 0,
    signalled: 0,
    notRunning: 0,
    deduplicated: 0,
    failed: 0,
    burstHeals: 0,
    burstHealedGoals: 0,
    burstHealsFailed: 0,
  };

  constructor(
    private readonly target: GoalTarget,
    private readonly options: DispatcherOptions = {},
  ) {
    this.dedupeMs = options.dedupeMs ?? 1_000;
    this.maxInFlight = options.maxInFlight ?? 64;
  }

  async dispatch(event: GoalEvent): Promise<DispatchOutcome> {
    const key = `${event.goalId}|${event.kind}|${event.taskId ?? ''}`;
    const now = Date.now();
    this.forgetOlderThan(now - this.dedupeMs);
    const seen = this.recent.get(key);
    if (seen && this.dedupeMs > 0) {
      // Ride on the first call's outcome; if it failed, this one fails too and its path retries.
      await seen.result;
      this.counts.deduplicated += 1;
      return 'deduplicated';
    }
    const result = this.inBurst(event) ? this.afterBurstHeal(event) : this.send(event);
    if (this.dedupeMs > 0) {
      this.recent.set(key, { at: now, result });
      // A failed call must not shield the next attempt from being made.
      result.catch(() => this.recent.delete(key));
    }
    return result;
  }

  private async send(event: GoalEvent): Promise<DispatchOutcome> {
    // A finishing call hands its slot straight to the next waiter, so the cap is never passed.
    if (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight += 1;
    try {
      if (START_KINDS.has(event.kind)) {
        const { started, eagerly } = await startGoal(this.target, event.goalId);
        this.counts[started ? 'started' : 'alreadyRunning'] += 1;
        if (eagerly) this.counts.startedEagerly += 1;
        if (started) this.options.onStarted?.(eagerly);
        this.options.log?.debug({ ...event, started, eagerly }, 'goal workflow start requested');
        return started ? 'started' : 'already_running';
      }
      const reason = `${event.kind} (${event.source})`;
      if (CLOSE_KINDS.has(event.kind)) {
        try {
          await signalHeal(this.target, event.goalId, reason, 'event');
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          this.counts.notRunning += 1;
          this.options.log?.debug(event, 'goal closed with no running workflow: nothing to do');
          return 'not_running';
        }
      } else {
        await healGoal(this.target, event.goalId, reason, 'event');
      }
      this.counts.signalled += 1;
      this.options.log?.debug(event, 'goal workflow signalled to heal');
      return 'signalled';
    } catch (err) {
      this.counts.failed += 1;
      this.options.log?.warn({ ...event, err: (err as Error).message }, 'dispatch failed');
      throw err;
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight -= 1;
    }
  }

  /** A goal start arriving while `threshold` starts already wait (or while a burst is being
   * healed, so a burst's goals keep their order) is healed in bulk first. */
  private inBurst(event: GoalEvent): boolean {
    const burst = this.options.burstHeal;
    if (!burst || !START_KINDS.has(event.kind)) return false;
    if (this.cooling()) return false;
    return this.burstHealRunning || this.burstQueue.length > 0 || this.waiting.length >= burst.threshold;
  }

  private afterBurstHeal(event: GoalEvent): Promise<DispatchOutcome> {
    const outcome = new Promise<DispatchOutcome>((resolve, reject) =>
      this.burstQueue.push({ event, done: (start) => start.then(resolve, reject) }),
    );
    if (!this.burstHealRunning && !this.burstGathering) {
      this.burstGathering = setTimeout(() => {
        this.burstGathering = null;
        this.nextBurstHeal();
      }, BURST_GATHER_MS);
    }
    return outcome;
  }

  private cooling(): boolean {
    return Date.now() - this.burstHealFailedAt < BURST_HEAL_COOLDOWN_MS;
  }

  /** One burst heal at a time, over the longest-waiting goals; when it ends (healed or not) the
   * next batch, if any, begins, and once none is left every deferred start joins the queue. */
  private nextBurstHeal(): void {
    const burst = this.options.burstHeal;
    if (!burst || this.burstHealRunning || this.burstQueue.length === 0) return;
    const batch = this.burstQueue.splice(0, MAX_BURST_HEAL_GOALS);
    this.burstHealRunning = true;
    const began = Date.now();
    burst
      .run(batch.map((entry) => entry.event.goalId))
      .then((totals) => {
        this.counts.burstHeals += 1;
        this.counts.burstHealedGoals += batch.length;
        burst.onDone?.('healed', batch.length);
        this.options.log?.info({ ...totals, ms: Date.now() - began, waitingStarts: this.waiting.length }, 'burst heal done');
      })
      .catch((err) => {
        this.counts.burstHealsFailed += 1;
        this.burstHealFailedAt = Date.now();
        burst.onDone?.('failed', batch.length);
        this.options.log?.warn({ goals: batch.length, err: (err as Error).message }, 'burst heal failed; the goals heal in their own workflows');
      })
      .finally(() => {
        this.burstHealRunning = false;
        this.deferredStarts.push(...batch);
        // After a failure the goals still queued take the plain path too (see the cooldown).
        if (this.cooling()) this.deferredStarts.push(...this.burstQueue.splice(0));
        if (this.burstQueue.length === 0 || this.deferredStarts.length >= MAX_DEFERRED_STARTS) {
          for (const { event, done } of this.deferredStarts.splice(0)) done(this.send(event));
        }
        this.nextBurstHeal();
      });
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [key, entry] of this.recent) {
      if (entry.at >= cutoff) break; // Map keeps insertion order: the rest are newer
      this.recent.delete(key);
    }
  }
}
