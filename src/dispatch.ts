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
 * within a moment, and never drops an occurrence the workflow has not yet been told of; only a
 * full queue drops events, and then the fleet check finds their goals (see Floods).
 *
 * Bursts: when `burstHeal` is given and `burstHeal.threshold` calls wait for a slot, new
 * goals get their first heal in bulk before their starts (src/burst-heal-queue.ts).
 *
 * Floods: one UPDATE that fails 100,000 tasks of 1,000 goals sends 100,000 NOTIFYs. What they ask
 * for is one heal per goal (the workflow's cycle reads the goal's tasks afresh), so a goal's task
 * events coalesce, whatever their task: while a heal to the goal waits for a slot, later ones join
 * it; while one is in flight, later ones book at most one follow-up, sent after it settles, so no
 * occurrence goes untold and no goal has two signals in flight. Calls not yet settled are bounded
 * (`queueLimit` waiting, plus `maxInFlight`): past it an event is dropped, counted, logged once per
 * overflow episode, and left to the fleet check (the scheduled set-based sweep), which finds every
 * goal needing care by reading the tables, not the events.
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
  /** The goal's description, one bounded line (goal-summary.ts summaryDescription), when the
   * event carries it (a goal inserted or reopened): the summary of a workflow this starts. */
  description?: string;
}

/** not_running: a goal_closed event for a goal with no running workflow, so nothing to do. */
/** overflowed: the queue was full; dropped, and left to the fleet check (see `queueLimit`). */
export type DispatchOutcome = 'started' | 'already_running' | 'signalled' | 'not_running' | 'deduplicated' | 'overflowed';

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

/** Task events: each asks the goal's workflow to look at its tasks again, which one heal does for
 * all of them, so they coalesce per goal whatever their task or kind. */
const HEAL_KINDS: ReadonlySet<GoalEventKind> = new Set(['task_failed', 'task_without_agent']);

/** DISPATCH_QUEUE_LIMIT's default: calls waiting for a slot. A coalesced flood holds at most two
 * per goal (one waiting, one follow-up), so this covers 5,000 goals changing at once; the memory
 * it bounds is a few hundred bytes a call. */
export const DEFAULT_DISPATCH_QUEUE_LIMIT = 10_000;

/** An event as logs show it: ids and kind, never the goal's description (tenant text). */
function loggable({ description: _description, ...event }: GoalEvent): Omit<GoalEvent, 'description'> {
  return event;
}

export function isGoalEventKind(value: unknown): value is GoalEventKind {
  return typeof value === 'string' && (GOAL_EVENT_KINDS as readonly string[]).includes(value);
}

export interface DispatcherOptions {
  /** How long the same start or close (goal, kind) is answered from memory; 0 turns that off.
   * Task events coalesce per goal whatever this says (see dispatchHeal): that is flood control. */
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
  /** Calls that may wait for a slot (beyond the `maxInFlight` running); further events are
   * dropped (outcome 'overflowed') and left to the fleet check. Default DEFAULT_DISPATCH_QUEUE_LIMIT. */
  queueLimit?: number;
  /** Told of each event dropped because the queue was full (the process's metrics count them). */
  onOverflow?: (event: GoalEvent) => void;
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
  /** Events dropped because the queue was full, and the overflow episodes they fell in. */
  overflowed: number;
  overflowEpisodes: number;
  /** The most calls ever waiting for a slot at once (bench and tests read it). */
  peakQueued: number;
}

/** A goal's heal: waiting for a slot until `sent`; `followUp` is the one heal booked while it was
 * in flight, which every later event joins. */
interface HealEntry {
  sent: boolean;
  result: Promise<DispatchOutcome>;
  followUp: HealEntry | null;
}

export class Dispatcher {
  private readonly recent = new Map<string, { at: number; result: Promise<DispatchOutcome> }>();
  /** Each goal's latest lifecycle event within the dedupe window (insertion order = age), with
   * the description a start brought (see describedRecently). */
  private readonly lastLifecycle = new Map<string, { at: number; kind: GoalEventKind; description?: string }>();
  private readonly dedupeMs: number;
  private readonly maxInFlight: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly queueLimit: number;
  /** Calls taken and not yet settled (in flight, waiting for a slot or for a burst heal, or a
   * follow-up heal waiting for its goal's current one): what queueLimit bounds. */
  private unsettled = 0;
  /** Each goal's current heal (task events), for coalescing. */
  private readonly heals = new Map<string, HealEntry>();
  /** Events dropped in the overflow episode under way (null: none under way). */
  private overflow: { dropped: number; goals: Set<string> } | null = null;
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
    overflowed: 0,
    overflowEpisodes: 0,
    peakQueued: 0,
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
    this.queueLimit = options.queueLimit ?? DEFAULT_DISPATCH_QUEUE_LIMIT;
    this.burst = options.burstHeal ? new BurstHealQueue(options.burstHeal, this.counts, options.log) : null;
  }

  async dispatch(event: GoalEvent): Promise<DispatchOutcome> {
    if (HEAL_KINDS.has(event.kind)) return this.dispatchHeal(event);
    const key = `${event.goalId}|${event.kind}`;
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
    if (this.full()) return this.overflowed(event);
    const result = this.track(
      event,
      this.burst && START_KINDS.has(event.kind) && this.burst.takes(this.waiting.length)
        ? this.burst.enqueue(event.goalId, () => this.send(event))
        : this.send(event),
    );
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

  /** Calls waiting for a slot now (not in flight). */
  get queued(): number {
    return Math.max(0, this.unsettled - this.inFlight);
  }

  /**
   * A task event: joins the goal's heal that waits for a slot, or, while one is in flight, the
   * follow-up booked after it (booking it if none is). So a goal has at most one heal signal in
   * flight and one waiting, however many of its rows change, and an event that comes in while a
   * signal is on its way is still told by the next one (the cycle the first starts may have read
   * the tables before the event's row changed).
   */
  private async dispatchHeal(event: GoalEvent): Promise<DispatchOutcome> {
    const current = this.heals.get(event.goalId);
    const joinable = current && !current.sent ? current : current?.followUp;
    if (joinable) {
      // Ride on that call's outcome; if it failed, this one fails too and its path retries.
      await joinable.result;
      this.counts.deduplicated += 1;
      return 'deduplicated';
    }
    if (this.full()) return this.overflowed(event);
    const described = event.description ?? this.describedRecently(event.goalId);
    if (described !== undefined) event = { ...event, description: described };
    const entry: HealEntry = { sent: false, result: Promise.resolve('signalled'), followUp: null };
    const after = current?.result;
    entry.result = this.track(
      event,
      (async () => {
        if (after) await after.catch(() => undefined);
        return this.send(event, () => {
          entry.sent = true;
        });
      })(),
    );
    if (current) current.followUp = entry;
    else this.heals.set(event.goalId, entry);
    // Settled: the follow-up (if any) becomes the goal's current heal. Registered before the
    // follow-up's own wait on this result, so the hand-over happens first.
    const handOver = () => {
      if (this.heals.get(event.goalId) !== entry) return;
      if (entry.followUp) this.heals.set(event.goalId, entry.followUp);
      else this.heals.delete(event.goalId);
    };
    entry.result.then(handOver, handOver);
    return entry.result;
  }

  /** Whether a new call would pass the bound: `queueLimit` waiting beyond `maxInFlight` running. */
  private full(): boolean {
    return this.unsettled >= this.maxInFlight + this.queueLimit;
  }

  /** Drops `event`: the fleet check finds its goal from the tables. Logged once per episode. */
  private overflowed(event: GoalEvent): DispatchOutcome {
    this.counts.overflowed += 1;
    this.options.onOverflow?.(event);
    if (!this.overflow) {
      this.overflow = { dropped: 0, goals: new Set() };
      this.counts.overflowEpisodes += 1;
      this.options.log?.warn(
        { queueLimit: this.queueLimit, inFlight: this.inFlight },
        'dispatch queue full: further goal events are dropped until it drains; the fleet check (scheduled sweep) heals their goals',
      );
    }
    this.overflow.dropped += 1;
    // Bounded like the queue: past it the count goes on, the set stops growing.
    if (this.overflow.goals.size < this.queueLimit) this.overflow.goals.add(event.goalId);
    return 'overflowed';
  }

  /** Counts a call taken until it settles; an episode of overflow ends once the queue is half empty. */
  private track(event: GoalEvent, result: Promise<DispatchOutcome>): Promise<DispatchOutcome> {
    this.unsettled += 1;
    this.counts.peakQueued = Math.max(this.counts.peakQueued, this.queued);
    const settled = result.then(
      () => undefined,
      () => this.options.onFailed?.(event),
    );
    this.outstanding.add(settled);
    void settled.finally(() => {
      this.outstanding.delete(settled);
      this.unsettled -= 1;
      // Half, not empty: a queue that hovers at its bound would otherwise log at every wobble.
      if (this.overflow && this.queued <= this.queueLimit / 2) {
        this.options.log?.warn(
          { dropped: this.overflow.dropped, goals: this.overflow.goals.size },
          'dispatch queue drained: events dropped while it was full are left to the fleet check',
        );
        this.overflow = null;
      }
    });
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

  /** `onSlot`: told when the call has its slot, just before it reaches Temporal. */
  private async send(event: GoalEvent, onSlot?: () => void): Promise<DispatchOutcome> {
    // A finishing call hands its slot straight to the next waiter, so the cap is never passed.
    if (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight += 1;
    onSlot?.();
    try {
      if (START_KINDS.has(event.kind)) {
        const { started, eagerly } = await startGoal(this.target, event.goalId, event.description);
        this.counts[started ? 'started' : 'alreadyRunning'] += 1;
        if (eagerly) this.counts.startedEagerly += 1;
        if (started) this.options.onStarted?.(eagerly);
        this.options.log?.debug({ ...loggable(event), started, eagerly }, 'goal workflow start requested');
        if (started || !REOPEN_KINDS.has(event.kind)) return started ? 'started' : 'already_running';
        // A reopened goal whose workflow still runs: that run may be the one ending because its
        // last cycle found the goal closed, and a start that finds it running does nothing. A
        // heal makes it look again (signal-with-start: should it have ended meanwhile, this
        // starts the next run).
        await healOnEvent(this.target, event.goalId, `${event.kind} (${event.source}): the run may be ending`, 'start-if-missing', event.description);
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
          this.options.log?.debug(loggable(event), 'goal closed with no running workflow: nothing to do');
          return 'not_running';
        }
      } else {
        await healOnEvent(this.target, event.goalId, reason, 'start-if-missing', event.description);
      }
      this.counts.signalled += 1;
      this.options.log?.debug(loggable(event), 'goal workflow signalled to heal');
      return 'signalled';
    } catch (err) {
      this.counts.failed += 1;
      this.options.log?.warn({ ...loggable(event), err: (err as Error).message }, 'dispatch failed');
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
    this.lastLifecycle.set(event.goalId, { at: now, kind: event.kind, description: event.description });
    return previous !== undefined && previous.kind !== event.kind;
  }

  /**
   * The description the goal's latest start event brought, within the dedupe window. A goal
   * inserted with its tasks in one transaction sends its start and their heals at once, and a
   * heal's signal-with-start may reach Temporal first and start the workflow: with the goal's
   * description as its summary all the same.
   */
  private describedRecently(goalId: string): string | undefined {
    const last = this.lastLifecycle.get(goalId);
    return last && START_KINDS.has(last.kind) && last.at >= this.clock() - this.dedupeMs ? last.description : undefined;
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
