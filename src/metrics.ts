/**
 * Prometheus metrics on METRICS_PORT (0 = off): what goalkeeper healed, how long it took, which
 * alerts it raised, how many retries it made, and the Temporal SDK runtime's own metrics. Fed by
 * the activities' HealingEvents hook; a worker created without explicit events uses the
 * process-wide metrics once startMetrics has run, so the code that builds the worker need not
 * know metrics exist. Served by src/observability.ts.
 *
 * When is a goal "healed"? The goal workflow knows, and says so once: a heal episode runs from
 * the start of the first cycle that found a problem to the end of the first cycle that found the
 * goal healthy again, and is recorded as a row of goalkeeper_heal_episodes (workflows/alerts.ts).
 * The worker whose activity creates that row counts it in goals_healed and observes its length in
 * time_to_heal: the same time to heal the heal report reads from the table, one definition.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from 'pino';
import type { HealingEvents } from '../activities';

export type HealKind = Parameters<NonNullable<HealingEvents['onHealed']>>[0];

export interface GoalkeeperMetrics {
  registry: Registry;
  events: Required<HealingEvents>;
  /** A goal workflow this process's dispatcher started; `eagerly`: its first workflow task came
   * back in the start's answer to this process's worker. */
  onGoalStarted(eagerly: boolean): void;
  /** A burst heal this process ran over `goals` goals: its dispatcher's (src/burst-heal-queue.ts)
   * or its catch-up sweep's (src/reconcile.ts). */
  onBurstHeal(outcome: 'healed' | 'failed', goals: number): void;
  /** A goal event the dispatcher dropped because its queue was full (src/dispatch.ts). */
  onDispatchOverflow(): void;
  /** Where the dispatch queue gauge reads its depth from (the process's dispatcher). */
  watchDispatchQueue(depth: () => number): void;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): GoalkeeperMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'goalkeeper_' });
  const actions = new Counter({ name: 'goalkeeper_healing_actions_total', help: 'Healing actions taken, by kind', labelNames: ['kind'], registers: [registry] });
  const healed = new Counter({ name: 'goalkeeper_goals_healed_total', help: 'Heal episodes ended (a goal found healthy again after a problem)', registers: [registry] });
  const timeToHeal = new Histogram({
    name: 'goalkeeper_time_to_heal_seconds',
    help: 'Seconds from the cycle that first saw a problem of a goal to the end of the cycle that found it healthy again',
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600],
    registers: [registry],
  });
  const alerts = new Counter({ name: 'goalkeeper_alerts_total', help: 'Alerts raised, by issue type', labelNames: ['issue_type'], registers: [registry] });
  const retries = new Counter({ name: 'goalkeeper_task_retries_total', help: 'Failed tasks retried', registers: [registry] });
  const starts = new Counter({
    name: 'goalkeeper_goal_workflow_starts_total',
    help: "Goal workflows started by this process's dispatcher; eager=\"true\": the first workflow task came straight back to this process's worker",
    labelNames: ['eager'],
    registers: [registry],
  });
  const burstHeals = new Counter({
    name: 'goalkeeper_burst_heals_total',
    help: "Burst heals (the first heal of many new goals in one batch) run by this process's dispatcher or catch-up sweeps, by outcome",
    labelNames: ['outcome'],
    registers: [registry],
  });
  const burstHealGoals = new Counter({
    name: 'goalkeeper_burst_heal_goals_total',
    help: "Goals handed to burst heals by this process's dispatcher or catch-up sweeps, by the burst heal's outcome",
    labelNames: ['outcome'],
    registers: [registry],
  });

  const overflow = new Counter({
    name: 'goalkeeper_dispatch_overflow_total',
    help: "Goal events dropped because the dispatcher's queue was full (DISPATCH_QUEUE_LIMIT); the fleet check heals their goals",
    registers: [registry],
  });
  let queueDepth: (() => number) | undefined;
  new Gauge({
    name: 'goalkeeper_dispatch_queue_depth',
    help: "Goal events waiting in the dispatcher's queue for a Temporal call slot",
    registers: [registry],
    collect() {
      this.set(queueDepth?.() ?? 0);
    },
  });

  return {
    registry,
    events: {
      onHealed(kind) {
        actions.inc({ kind });
        if (kind === 'task_retried') retries.inc();
      },
      onAlert(issueType) {
        alerts.inc({ issue_type: issueType });
      },
      onHealEpisode(seconds) {
        healed.inc();
        timeToHeal.observe(seconds);
      },
    },
    onGoalStarted(eagerly) {
      starts.inc({ eager: String(eagerly) });
    },
    onBurstHeal(outcome, goals) {
      burstHeals.inc({ outcome });
      burstHealGoals.inc({ outcome }, goals);
    },
    onDispatchOverflow() {
      overflow.inc();
    },
    watchDispatchQueue(depth) {
      queueDepth = depth;
    },
  };
}

let processMetrics: GoalkeeperMetrics | undefined;
let processLog: Logger | undefined;
let dispatchQueueDepth: (() => number) | undefined;

/** Makes `metrics` the process's (what processHealingEvents and the count functions feed), or,
 * with `undefined`, none. */
export function useProcessMetrics(metrics: GoalkeeperMetrics | undefined): void {
  processMetrics = metrics;
  if (dispatchQueueDepth) metrics?.watchDispatchQueue(dispatchQueueDepth);
}

/** Where processHealingEvents logs healing actions (AUTO-HEALING) and alerts. */
export function useProcessLog(log: Logger): void {
  processLog = log;
}

/** Stops feeding `metrics`, if they are still the process's. */
export function releaseProcessMetrics(metrics: GoalkeeperMetrics): void {
  if (processMetrics === metrics) processMetrics = undefined;
}

/**
 * The HealingEvents a worker uses when none were given: each healing action logged with the
 * AUTO-HEALING marker (the platform's own marker for them) and each alert with WORKSPACE HEALTH
 * ALERT, on the process's logger, and counted in the process's metrics. Looked up at each call, so
 * a worker built before metrics started still feeds them.
 */
export function processHealingEvents(): Required<HealingEvents> {
  return {
    onHealed(kind, goalId) {
      processLog?.info({ goalId, kind }, `AUTO-HEALING: ${kind}`);
      processMetrics?.events.onHealed(kind, goalId);
    },
    onAlert(issueType) {
      processLog?.warn({ issueType }, `WORKSPACE HEALTH ALERT: ${issueType}`);
      processMetrics?.events.onAlert(issueType);
    },
    onHealEpisode(seconds) {
      processMetrics?.events.onHealEpisode(seconds);
    },
  };
}

/** Counts a dispatcher's goal workflow start in the process's metrics (none before they start). */
export function countGoalStart(eagerly: boolean): void {
  processMetrics?.onGoalStarted(eagerly);
}

/** Counts a burst heal (a dispatcher's or a catch-up sweep's) in the process's metrics (none before they start). */
export function countBurstHeal(outcome: 'healed' | 'failed', goals: number): void {
  processMetrics?.onBurstHeal(outcome, goals);
}

/** Counts a goal event the dispatcher dropped on a full queue in the process's metrics. */
export function countDispatchOverflow(): void {
  processMetrics?.onDispatchOverflow();
}

/** Makes the process's metrics report `depth` as the dispatch queue's (the latest caller's). A
 * dispatcher built before metrics start is still read: the gauge asks at each scrape. */
export function watchDispatchQueue(depth: () => number): void {
  dispatchQueueDepth = depth;
  processMetrics?.watchDispatchQueue(depth);
}
