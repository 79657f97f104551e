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
 * within a moment, and never drops an occurrence the workflow has not yet been told of.
 *
 * Bursts: when `burstHeal` is given and `burstHeal.threshold` calls wait for a slot, new
 * goals get their first heal in bulk before their starts (src/burst-heal-queue.ts).
 */
import type { Logger } from 'pino';
import { WorkflowNotFoundError } from '@temporalio/client';
import { BurstHealQueue, type BurstHealCounts, type BurstHealOptions } from './burst-heal-queue';
import { healOnEvent, startGoal, type GoalTarget } from './temporal/goal-client';

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

/** Starting is enough for these: a new (or newly running) workflow heals on its first cycle, and
 * a running one would heal anyway, so no signal grows its history (but see REOPEN_KINDS). */
const START_KINDS: ReadonlySet<GoalEventKind> = new Set(['goal_created', 'goal_reopened']);

/** Of START_KINDS: a goal that was closed, whose workflow a start may find still running because
 * that run is ending; those runs get a heal too (see send). */
const REOPEN_KINDS: ReadonlySet<GoalEventKind> = new Set(['goal_reopened']);

/** Only a running workflow has anything to do about these (end itself with a summary): a plain
 * signal, never signal-with-start, so a closed goal with no workflow gets no throwaway run. */
const CLOSE_KINDS: ReadonlySet<GoalEventKind> = new Set(['goal_closed']);

/** Events that change whether a goal is open: a repeat of one is a duplicate only while no other
 * of them came in between (reopened → closed → reopened is three changes, not a repeat). */
const LIFECYCLE_KINDS: ReadonlySet<GoalEventKind> = new Set([...START_KINDS, ...CLOSE_KINDS]);

export function isGoalEventKind(value: unknown): value is GoalEventKind {
  return typeof value === 'string' && (GOAL_EVENT_KINDS as readonly string[]).includes(value);
}

export interface DispatcherOptions {
  /** How long the same start (goal, kind) is answered from memory; the same heal (goal, kind,
   * task) is answered from memory only while its signal is in flight. 0 turns dedupe off. */
  dedupeMs?: number;
  /** Temporal calls in flight at once; the rest wait their turn (a 10,000-row INSERT must not
   * open 10,000 calls at once). */
  maxInFlight?: number;
  log?: Logger;
  /** Told of each workflow this dispatcher started (the process's metrics count them). */
  onStarted?: (eagerly: boolean) => void;
  /** Absent: every goal's first heal is its own workflow's. */
  burstHeal?: BurstHealOptions;
  /** Milliseconds now, for the dedupe window (tests step it by hand). */
  clock?: () => number;
  /** Told of each call that failed: the event is lost unless someone sweeps (RecoverySweep). */
  onFailed?: (event: GoalEvent) => void;
}

export interface DispatchCounts extends BurstHealCounts {
  started: number;
  /** Of `started`: handed straight to this process's worker in the start's answer (eager start). */
  startedEagerly: number;
  alreadyRunning: number;
  signalled: number;
  notRunning: number;
  deduplicated: number;
  failed: number;
}

export class Dispatcher {
  private readonly recent = new Map<string, { at: number; result: Promise<DispatchOutcome> }>();
  /** Each goal's latest lifecycle event within the dedupe window (insertion order = age). */
  private readonly lastLifecycle = new Map<string, { at: number; kind: GoalEventKind }>();
  private readonly dedupeMs: number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly burst: BurstHealQueue | null;
  private readonly clock: () => number;
  /** Calls not yet settled, for drain(). */
  private readonly outstanding = new Set<Promise<unknown>>();
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
    this.clock = options.clock ?? Date.now;
    this.burst = options.burstHeal ? new BurstHealQueue(options.burstHeal, this.counts, options.log) : null;
  }

  async dispatch(event: GoalEvent): Promise<DispatchOutcome> {
    const key = `${event.goalId}|${event.kind}|${event.taskId ?? ''}`;
    const now = this.clock();
    this.forgetOlderThan(now - this.dedupeMs);
    const remembered = this.lifecycleTurned(event, now) ? undefined : this.recent.get(key);
    const seen = remembered && remembered.at >= now - this.dedupeMs ? remembered : undefined;
    if (seen && this.dedupeMs > 0) {
      // Ride on the first call's outcome; if it failed, this one fails too and its path retries.
      await seen.result;
      this.counts.deduplicated += 1;
      return 'deduplicated';
    }
    const result =
      this.burst && START_KINDS.has(event.kind) && this.burst.takes(this.waiting.length)
        ? this.burst.enqueue(event.goalId, () => this.send(event))
        : this.send(event);
    const settled = result.then(
      () => undefined,
      () => this.options.onFailed?.(event),
    );
    this.outstanding.add(settled);
    void settled.finally(() => this.outstanding.delete(settled));
    if (this.dedupeMs > 0) {
      const entry = { at: now, result };
      // Deleted first so the map stays in age order (set on a present key keeps its old place,
      // and forgetOlderThan stops at the first entry still in the window).
      this.recent.delete(key);
      this.recent.set(key, entry);
      const forget = () => {
        if (this.recent.get(key) === entry) this.recent.delete(key);
      };
      // A failed call must not shield the next attempt from being made. A heal is remembered
      // only while it is in flight: an event that rides on it happened before the signal
      // reached the workflow, whose next cycle reads after that; once delivered, the same event
      // again may be a new occurrence (an agent cleared again, a task failed again) that the
      // cycle already under way did not see, so it goes to Temporal.
      if (START_KINDS.has(event.kind)) result.catch(forget);
      else result.then(forget, forget);
    }
    return result;
  }

  /**
   * Waits, at most `timeoutMs`, for every call taken so far to settle: on shutdown, once no new
   * events come in, the ones already taken (queued for a slot, held for a burst heal) still reach
   * Temporal before its connection closes. Returns how many were still unsettled at the deadline.
   */
  async drain(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...this.outstanding]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, left);
        }),
      ]);
      clearTimeout(timer);
    }
    return this.outstanding.size;
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
        if (started || !REOPEN_KINDS.has(event.kind)) return started ? 'started' : 'already_running';
        // A reopened goal whose workflow still runs: that run may be the one ending because its
        // last cycle found the goal closed, and a start that finds it running does nothing. A
        // heal makes it look again (signal-with-start: should it have ended meanwhile, this
        // starts the next run).
        await healOnEvent(this.target, event.goalId, `${event.kind} (${event.source}): the run may be ending`, 'start-if-missing');
        this.counts.signalled += 1;
        return 'signalled';
      }
      const reason = `${event.kind} (${event.source})`;
      if (CLOSE_KINDS.has(event.kind)) {
        try {
          await healOnEvent(this.target, event.goalId, reason, 'running-only');
        } catch (err) {
          if (!(err instanceof WorkflowNotFoundError)) throw err;
          this.counts.notRunning += 1;
          this.options.log?.debug(event, 'goal closed with no running workflow: nothing to do');
          return 'not_running';
        }
      } else {
        await healOnEvent(this.target, event.goalId, reason, 'start-if-missing');
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

  /** Whether this lifecycle event follows a different one of the same goal (so it is no repeat,
   * whatever the window remembers), noting it as the goal's latest. */
  private lifecycleTurned(event: GoalEvent, now: number): boolean {
    if (!LIFECYCLE_KINDS.has(event.kind) || this.dedupeMs === 0) return false;
    const previous = this.lastLifecycle.get(event.goalId);
    this.lastLifecycle.delete(event.goalId); // re-inserted last: the map stays in age order
    this.lastLifecycle.set(event.goalId, { at: now, kind: event.kind });
    return previous !== undefined && previous.kind !== event.kind;
  }

  private forgetOlderThan(cutoff: number): void {
    for (const [key, entry] of this.recent) {
      if (entry.at >= cutoff) break; // Map keeps insertion order: the rest are newer
      this.recent.delete(key);
    }
    for (const [goalId, entry] of this.lastLifecycle) {
      if (entry.at >= cutoff) break;
      this.lastLifecycle.delete(goalId);
    }
  }
}
