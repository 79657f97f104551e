/**
 * A catch-up sweep after dispatches failed. An event the dispatcher could not hand to Temporal
 * (Temporal briefly unreachable, a namespace hiccup) is gone: NOTIFY does not redeliver, and
 * Supabase's pg_net does not retry a webhook. Without this, a new goal so lost waited for the
 * scheduled fleet check (GOAL_TASK_HEALTH_CHECK_INTERVAL), at most one interval.
 * Here the first failure books one sweep a few seconds later; a sweep that fails too (Temporal
 * still away) books the next with a doubled delay, capped; one that succeeds ends the episode.
 * Failures while a sweep is booked or running add nothing: the sweep starts after them, so it sees
 * what they missed.
 */
import type { Logger } from 'pino';

export interface RecoverySweepOptions {
  /** The listener's catch-up sweep: starts missing goal workflows, heals goals whose tasks need it. */
  sweep: () => Promise<unknown>;
  log?: Logger;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

export class RecoverySweep {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  /** A failure reported while a sweep runs: that sweep may have read before the event happened. */
  private owed = false;
  private failedSweeps = 0;
  private stopped = false;
  /** Sweeps run so far, and how many of them succeeded (tests and logs read them). */
  sweepsRun = 0;
  sweepsSucceeded = 0;

  constructor(private readonly options: RecoverySweepOptions) {}

  /** A dispatch failed: make sure a sweep runs after it. */
  dispatchFailed(): void {
    if (this.stopped) return;
    if (this.running) {
      this.owed = true;
      return;
    }
    this.book();
  }

  private book(): void {
    if (this.timer || this.stopped) return;
    const first = this.options.firstDelayMs ?? 2_000;
    const delay = Math.min(this.options.maxDelayMs ?? 60_000, first * 2 ** this.failedSweeps);
    this.options.log?.warn({ sweepInMs: delay }, 'a goal event could not be dispatched; a catch-up sweep will cover it');
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.run().finally(() => {
        this.running = null;
      });
    }, delay);
  }

  private async run(): Promise<void> {
    this.owed = false;
    this.sweepsRun += 1;
    try {
      const totals = await this.options.sweep();
      this.sweepsSucceeded += 1;
      this.failedSweeps = 0;
      this.options.log?.info({ totals }, 'catch-up sweep after failed dispatches done');
    } catch (err) {
      this.failedSweeps += 1;
      this.owed = true;
      this.options.log?.warn({ err: (err as Error).message }, 'catch-up sweep after failed dispatches failed; trying again');
    }
    if (this.owed) this.book();
  }

  /** Cancels a booked sweep and waits for a running one. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }
}
