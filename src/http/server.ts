/**
 * The HTTP face of goalkeeper (fastify): the Supabase Database Webhook receiver, /healthz, a
 * workspace's health, the goal list (by health and workspace) and the heal report. Two callers, two tokens: the
 * database's webhook sender holds WEBHOOK_SECRET and may only post events; an operator (or a
 * dashboard) holds OPERATOR_TOKEN and may only read. A leaked webhook secret reads nothing, and an
 * operator token posts nothing. Tokens are compared in constant time; the webhook reads at most
 * bodyLimit bytes and answers 202 once the goal's workflow has the event.
 *
 * /healthz answers anyone (probes carry no token) but says only ok or not; with the operator
 * token it says which part is not ok and why. Its answers come from a short cache (healthz.ts).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Dispatcher } from '../dispatch';
import { DEFAULT_GOAL_LIST_LIMIT, healthProblem, limitProblem, type GoalList, type GoalListFilter } from '../goal-list';
import type { WorkspaceHealthReport } from '../health';
import { DEFAULT_REPORT_SINCE, parseSince, type HealReportResult } from '../report';
import type { GoalHealth } from '../../workflows/types';
import { HEALTHZ_CACHE_MS, HealthCache, type ComponentStates } from './healthz';
import { WebhookPayloadError, toGoalEvent, type MappedChange } from './webhook';
import { isUuid } from '../../workflows/uuid';

export type { ComponentState } from './healthz';

export interface HttpDeps {
  dispatcher: Pick<Dispatcher, 'dispatch'>;
  /** POST /webhooks/supabase's bearer token; unset: the route refuses every call. */
  webhookSecret?: string;
  /** The read routes' bearer token (and /healthz's details); unset: they refuse every call. */
  operatorToken?: string;
  /** How long one /healthz answer is reused (default HEALTHZ_CACHE_MS). */
  healthCacheMs?: number;
  /** Bytes; larger webhook bodies get 413. */
  bodyLimit?: number;
  /** Whether a goal is in a workspace (HealingStore.goalInWorkspace): asked before a task's change
   * is told to its goal. Unset: task changes are refused with 503, never told unchecked. */
  goalInWorkspace?: (goalId: string, workspaceId: string) => Promise<boolean>;
  /** Each component's current state for /healthz (called at most once per cache window). */
  health: () => Promise<ComponentStates>;
  workspaceHealth?: (workspaceId: string) => Promise<WorkspaceHealthReport>;
  /** Goal workflows by health and workspace, from Temporal's visibility (GET /goals). */
  goals?: (filter: GoalListFilter) => Promise<GoalList>;
  /** The heal report (GET /report): goals by health from visibility, heal figures from the store. */
  report?: (options: { since: Date; workspaceId?: string }) => Promise<HealReportResult>;
  log?: Logger;
}

/** What a webhook call that could not be delivered is answered: what failed and what covers it,
 * never the driver's or the SDK's text (host names, auth failures), which goes to the log. */
export const WEBHOOK_TEMPORAL_FAILED = 'could not reach Temporal; the fleet check will heal this goal';
export const WEBHOOK_CHECK_FAILED = "could not reach the database to check the task's workspace; the fleet check will heal this goal";

/** An error's message with its causes': the SDK's "Failed to start Workflow" says what was tried,
 * its cause (UNAVAILABLE, connect ECONNREFUSED host:port) why it failed. For the log only. */
function failureText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth += 1) parts.push(e.message);
  return parts.length ? parts.join(': ') : String(err);
}

/** WEBHOOK_BODY_LIMIT_BYTES's default: a Supabase UPDATE payload holds the row twice. */
export const DEFAULT_WEBHOOK_BODY_LIMIT = 1024 * 1024;
/** Equal-length digests, so neither the comparison time nor an early length check tells a caller
 * anything about the secret. */
export function secretMatches(presented: string, secret: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(presented), digest(secret));
}

function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(.+)$/i.exec(header.trim());
  return match ? match[1] : null;
}

export function buildHttpServer(deps: HttpDeps): FastifyInstance {
  const bodyLimit = deps.bodyLimit ?? DEFAULT_WEBHOOK_BODY_LIMIT;
  const app = Fastify({ logger: false, bodyLimit });

  // Every body arrives as text and is parsed in the route, so a non-JSON body (whatever its
  // content type) gets goalkeeper's own 400 naming the problem, after the caller is authenticated.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _request, reply) => {
    const status = err.statusCode ?? 500;
    if (status === 413) return reply.code(413).send({ error: 'body_too_large', message: `the body exceeds ${bodyLimit} bytes` });
    if (status >= 500) deps.log?.error({ err: err.message }, 'http handler failed');
    return reply.code(status).send({ error: err.code ?? 'error', message: err.message });
  });

  /** Refuses the request unless it carries `setting`'s token; with none configured, refuses all. */
  const requireToken = (setting: 'WEBHOOK_SECRET' | 'OPERATOR_TOKEN', token: string | undefined, what: string) =>
    async (request: FastifyRequest, reply: FastifyReply) => {
      if (!token) {
        return reply.code(503).send({
          error: setting === 'WEBHOOK_SECRET' ? 'webhook_disabled' : 'reads_disabled',
          message: `${setting} is not set on this goalkeeper, so it accepts no ${what}`,
        });
      }
      const presented = bearer(request);
      if (presented === null) {
        return reply.code(401).send({ error: 'unauthorized', message: `Authorization: Bearer <${setting}> is required` });
      }
      if (!secretMatches(presented, token)) {
        return reply.code(401).send({ error: 'unauthorized', message: `the bearer token does not match ${setting}` });
      }
    };
  const requireSecret = (what: string) => requireToken('WEBHOOK_SECRET', deps.webhookSecret, what);
  const requireOperator = (what: string) => requireToken('OPERATOR_TOKEN', deps.operatorToken, what);
  const isOperator = (request: FastifyRequest): boolean => {
    const presented = bearer(request);
    return Boolean(deps.operatorToken && presented !== null && secretMatches(presented, deps.operatorToken));
  };
  const health = new HealthCache(deps.health, deps.healthCacheMs ?? HEALTHZ_CACHE_MS);

  app.post(
    '/webhooks/supabase',
    // Authenticate before the body is read: an unauthenticated caller costs no parsing.
    { onRequest: requireSecret('webhook calls') },
    async (request, reply) => {
      let body: unknown;
      try {
        body = JSON.parse(typeof request.body === 'string' ? request.body : '');
      } catch {
        return reply.code(400).send({ error: 'invalid_json', message: 'the body is not JSON' });
      }
      let mapped: MappedChange;
      try {
        mapped = toGoalEvent(body);
      } catch (err) {
        if (err instanceof WebhookPayloadError) return reply.code(400).send({ error: err.problem, message: err.message });
        throw err;
      }
      const { event, taskWorkspaceId } = mapped;
      if (!event) return reply.code(202).send({ accepted: true, action: 'none', reason: mapped.ignored });
      // 503s make Supabase's webhook (pg_net) log a failure; the fleet check reads the tables and
      // heals the goal whatever became of its event.
      if (taskWorkspaceId !== undefined) {
        if (!deps.goalInWorkspace) {
          return reply.code(503).send({ error: 'unavailable', message: "task changes need a database to check the task's workspace (DATABASE_URL or SUPABASE_URL)" });
        }
        let ours: boolean;
        try {
          ours = await deps.goalInWorkspace(event.goalId, taskWorkspaceId);
        } catch (err) {
          deps.log?.warn({ goalId: event.goalId, kind: event.kind, err: failureText(err) }, 'webhook: workspace check failed');
          return reply.code(503).send({ error: 'check_failed', message: WEBHOOK_CHECK_FAILED });
        }
        // As the NOTIFY trigger: another workspace's task naming this goal wakes no goal workflow.
        if (!ours) return reply.code(202).send({ accepted: true, action: 'none', reason: "the task's workspace is not its goal's" });
      }
      try {
        const outcome = await deps.dispatcher.dispatch(event);
        return reply.code(202).send({ accepted: true, action: outcome, goalId: event.goalId, kind: event.kind });
      } catch (err) {
        deps.log?.warn({ goalId: event.goalId, kind: event.kind, err: failureText(err) }, 'webhook: event not delivered to Temporal');
        return reply.code(503).send({ error: 'dispatch_failed', message: WEBHOOK_TEMPORAL_FAILED });
      }
    },
  );

  // Open to probes, which carry no token: ok or not, nothing else. Which part failed and its
  // error text (a host name, a driver's message) is for the operator token's holder.
  app.get('/healthz', async (request, reply) => {
    const components = await health.get();
    const ok = Object.values(components).every((c) => c.ok);
    reply.header('cache-control', 'no-store');
    return reply.code(ok ? 200 : 503).send(isOperator(request) ? { ok, components } : { ok });
  });

  // Workspace data: the operator token guards it, never the webhook secret, which the database's
  // webhook sender holds (liveness probes use /healthz, which tells nothing about any workspace).
  app.get<{ Params: { id: string } }>('/workspaces/:id/health', { onRequest: requireOperator('workspace health calls') }, async (request, reply) => {
    if (!isUuid(request.params.id)) {
      return reply.code(400).send({ error: 'invalid_workspace_id', message: `workspace id must be a UUID, got ${JSON.stringify(request.params.id)}` });
    }
    if (!deps.workspaceHealth) {
      return reply.code(503).send({ error: 'unavailable', message: 'workspace health needs a database (DATABASE_URL or SUPABASE_URL)' });
    }
    const report = await deps.workspaceHealth(request.params.id);
    if (!report.workspaceExists) return reply.code(404).send({ error: 'workspace_not_found', message: `no workspace ${request.params.id}` });
    return reply.send(report);
  });

  // The CLI's `goalkeeper goals`: each parameter checked before it reaches the visibility query,
  // and one that is misspelt, repeated or unknown refused, never silently ignored.
  app.get<{ Querystring: Record<string, string | string[]> }>('/goals', { onRequest: requireOperator('goal list calls') }, async (request, reply) => {
    const bad = (error: string, message: string) => reply.code(400).send({ error, message });
    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.query)) {
      if (!['health', 'workspace', 'limit'].includes(name)) return bad('unknown_parameter', `unknown parameter ${JSON.stringify(name)}: use health, workspace or limit`);
      if (typeof value !== 'string') return bad('repeated_parameter', `${name} is given more than once`);
      params[name] = value;
    }
    const checks: Array<[string, (raw: string) => string | null]> = [
      ['health', healthProblem],
      ['workspace', (raw) => (isUuid(raw) ? null : `must be a UUID, got ${JSON.stringify(raw)}`)],
      ['limit', limitProblem],
    ];
    for (const [name, problemOf] of checks) {
      const problem = params[name] === undefined ? null : problemOf(params[name]);
      if (problem) return bad('invalid_parameter', `${name} ${problem}`);
    }
    if (!deps.goals) return reply.code(503).send({ error: 'unavailable', message: 'the goal list needs Temporal' });
    const list = await deps.goals({
      health: params.health as GoalHealth | undefined,
      workspaceId: params.workspace,
      limit: params.limit !== undefined ? Number(params.limit) : DEFAULT_GOAL_LIST_LIMIT,
    });
    return reply.send(list);
  });

  // The CLI's `goalkeeper report`: workspace and since checked (and resolved against the clock)
  // before anything is read; a misspelt, repeated or unknown parameter refused as for /goals.
  app.get<{ Querystring: Record<string, string | string[]> }>('/report', { onRequest: requireOperator('report calls') }, async (request, reply) => {
    const bad = (error: string, message: string) => reply.code(400).send({ error, message });
    const params: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.query)) {
      if (!['workspace', 'since'].includes(name)) return bad('unknown_parameter', `unknown parameter ${JSON.stringify(name)}: use workspace or since`);
      if (typeof value !== 'string') return bad('repeated_parameter', `${name} is given more than once`);
      params[name] = value;
    }
    if (params.workspace !== undefined && !isUuid(params.workspace)) {
      return bad('invalid_parameter', `workspace must be a UUID, got ${JSON.stringify(params.workspace)}`);
    }
    let since: Date;
    try {
      since = parseSince(params.since ?? DEFAULT_REPORT_SINCE);
    } catch (err) {
      return bad('invalid_parameter', (err as Error).message);
    }
    if (!deps.report) return reply.code(503).send({ error: 'unavailable', message: 'the report needs a database (DATABASE_URL or SUPABASE_URL)' });
    const { report, goalsProblem } = await deps.report({ since, workspaceId: params.workspace });
    // The recorded figures are still worth answering with; goals is null and the log says why.
    if (goalsProblem) deps.log?.warn({ problem: goalsProblem }, 'heal report without goals by health');
    return reply.send(report);
  });

  return app;
}
