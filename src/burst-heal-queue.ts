/**
 * The dispatcher's burst path. Goal starts are capped in flight, and a goal workflow's start and
 * first cycle cost the Temporal server far more than the heal itself, so thousands of goals
 * created at once queue in the dispatcher, and the last would wait minutes for its task. Once
 * `threshold` calls wait for a slot, new goals come here instead: a burst heal (one workflow,
 * one activity, the same SQL function their own workflows call: workflows/burst-heal.ts) heals up
 * to MAX_BURST_HEAL_GOALS of them at a time, and their starts are handed back once no goal waits
 * for a burst heal (or MAX_DEFERRED_STARTS do): healing first, since starts compete with it for
 * the same CPU and a healed goal loses little by being supervised seconds later. Each goal's own
 * workflow still starts, finds it healed, and supervises it from then on. A failed burst heal
 * costs only time: its goals' starts go ahead all the same, and their first cycle heals them.
 */
import type { Logger } from 'pino';
import { MAX_BURST_HEAL_GOALS } from '../workflows/messages';
import type { BurstHealTotals } from '../workflows/types';

export interface BurstHealOptions {
  /** The dispatcher's calls waiting for a slot at which new goals are healed in bulk (≥ 1). */
  threshold: number;
  /** Heals the goals (healBurst: a burstHealWorkflow) and resolves with what it did. */
  run: (goalIds: string[]) => Promise<BurstHealTotals>;
  /** Told of each burst heal's end (the process's metrics count them). */
  onDone?: (outcome: 'healed' | 'failed', goals: number) => void;
}

export interface BurstHealCounts {
  /** Burst heals finished, the goals they covered, and the ones that failed. */
  burstHeals: number;
  burstHealedGoals: number;
  burstHealsFailed: number;
}

/** Burst-healed goals whose starts may wait for the burst queue to drain: beyond this, they are
 * let go at once, so a burst that never ends still gets its goals supervised. */
const MAX_DEFERRED_STARTS = 10 * MAX_BURST_HEAL_GOALS;

/** After a burst heal fails (no worker, Temporal or the database away), goals take the plain path
 * for this long, so a dead end costs one batch's wait, not one per batch. */
const COOLDOWN_MS = 60_000;

/** A burst's first batch waits this long to gather the rest of the burst: one INSERT of
 * thousands of goals reaches the listener over a few milliseconds, not in one event. */
const GATHER_MS = 20;

interface Entry {
  goalId: string;
  /** Starts the goal's workflow (the dispatcher's own path); the entry's promise follows it. */
  start: () => void;
}

export class BurstHealQueue {
  /** Goals waiting for a burst heal, in arrival order. */
  private readonly queue: Entry[] = [];
  /** Burst-healed goals whose starts wait for the queue to drain. */
  private readonly deferred: Entry[] = [];
  private running = false;
  private failedAt = -Infinity;
  private gathering: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: BurstHealOptions,
    private readonly counts: BurstHealCounts,
    private readonly log?: Logger,
  ) {}

  /** Whether a goal start arriving now, with `waitingCalls` calls waiting for a slot, is part
   * of a burst (once one has begun, every new goal is, so a burst's goals keep their order). */
  takes(waitingCalls: number): boolean {
    if (this.cooling()) return false;
    return this.running || this.queue.length > 0 || waitingCalls >= this.options.threshold;
  }

  /** Heals the goal with the next burst heal, then calls `start`; resolves with its outcome. */
  enqueue<T>(goalId: string, start: () => Promise<T>): Promise<T> {
    const outcome = new Promise<T>((resolve, reject) => this.queue.push({ goalId, start: () => void start().then(resolve, reject) }));
    if (!this.running && !this.gathering) {
      this.gathering = setTimeout(() => {
        this.gathering = null;
        this.next();
      }, GATHER_MS);
    }
    return outcome;
  }

  private cooling(): boolean {
    return Date.now() - this.failedAt < COOLDOWN_MS;
  }

  /** One burst heal at a time, over the longest-waiting goals; when it ends (healed or not) the
   * next batch, if any, begins, and once none is left every deferred start goes ahead. */
  private next(): void {
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, MAX_BURST_HEAL_GOALS);
    this.running = true;
    const began = Date.now();
    this.options
      .run(batch.map((entry) => entry.goalId))
      .then((totals) => {
        this.counts.burstHeals += 1;
        this.counts.burstHealedGoals += batch.length;
        this.options.onDone?.('healed', batch.length);
        this.log?.info({ ...totals, ms: Date.now() - began, stillQueued: this.queue.length }, 'burst heal done');
      })
      .catch((err) => {
        this.counts.burstHealsFailed += 1;
        this.failedAt = Date.now();
        this.options.onDone?.('failed', batch.length);
        this.log?.warn({ goals: batch.length, err: (err as Error).message }, 'burst heal failed; the goals heal in their own workflows');
      })
      .finally(() => {
        this.running = false;
        this.deferred.push(...batch);
        // After a failure the goals still queued take the plain path too (see the cooldown).
        if (this.cooling()) this.deferred.push(...this.queue.splice(0));
        if (this.queue.length === 0 || this.deferred.length >= MAX_DEFERRED_STARTS) {
          for (const entry of this.deferred.splice(0)) entry.start();
        }
        this.next();
      });
  }
}
