/**
 * The HTTP face of goalkeeper (fastify): the Supabase Database Webhook receiver, /healthz, a
 * workspace's health and the goal list (by health and workspace). The webhook proves its caller
 * with a shared secret compared in constant time, reads at most bodyLimit bytes, and answers 202
 * once the goal's workflow has the event.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Dispatcher } from '../dispatch';
import { DEFAULT_GOAL_LIST_LIMIT, healthProblem, limitProblem, type GoalList, type GoalListFilter } from '../goal-list';
import type { WorkspaceHealthReport } from '../health';
import type { GoalHealth } from '../../workflows/types';
import { WebhookPayloadError, toGoalEvent } from './webhook';
import { isUuid } from '../../workflows/uuid';

export type ComponentState = { ok: boolean; state: string; detail?: string };

export interface HttpDeps {
  dispatcher: Pick<Dispatcher, 'dispatch'>;
  webhookSecret?: string;
  /** Bytes; larger webhook bodies get 413. */
  bodyLimit?: number;
  /** Each component's current state for /healthz. */
  health: () => Promise<Record<string, ComponentState>>;
  workspaceHealth?: (workspaceId: string) => Promise<WorkspaceHealthReport>;
  /** Goal workflows by health and workspace, from Temporal's visibility (GET /goals). */
  goals?: (filter: GoalListFilter) => Promise<GoalList>;
  log?: Logger;
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

  /** Refuses the request unless it carries the secret; with no secret configured, refuses all. */
  const requireSecret = (what: string) => async (request: FastifyRequest, reply: FastifyReply) => {
    if (!deps.webhookSecret) {
      return reply.code(503).send({
        error: 'webhook_disabled',
        message: `WEBHOOK_SECRET is not set on this goalkeeper, so it accepts no ${what}`,
      });
    }
    const presented = bearer(request);
    if (presented === null) {
      return reply.code(401).send({ error: 'unauthorized', message: 'Authorization: Bearer <WEBHOOK_SECRET> is required' });
    }
    if (!secretMatches(presented, deps.webhookSecret)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'the bearer token does not match WEBHOOK_SECRET' });
    }
  };

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
      let mapped: ReturnType<typeof toGoalEvent>;
      try {
        mapped = toGoalEvent(body);
      } catch (err) {
        if (err instanceof WebhookPayloadError) return reply.code(400).send({ error: err.problem, message: err.message });
        throw err;
      }
      if (!mapped.event) return reply.code(202).send({ accepted: true, action: 'none', reason: mapped.ignored });
      try {
        const outcome = await deps.dispatcher.dispatch(mapped.event);
        return reply.code(202).send({ accepted: true, action: outcome, goalId: mapped.event.goalId, kind: mapped.event.kind });
      } catch (err) {
        // Temporal unreachable: 503 makes Supabase's webhook (pg_net) log a failure; the sweep covers it.
        return reply.code(503).send({ error: 'dispatch_failed', message: (err as Error).message });
      }
    },
  );

  app.get('/healthz', async (_request, reply) => {
    const components = await deps.health();
    const ok = Object.values(components).every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({ ok, components });
  });

  // Workspace data: the same bearer secret guards it (liveness probes use /healthz, which is open
  // and tells nothing about any workspace).
  app.get<{ Params: { id: string } }>('/workspaces/:id/health', { onRequest: requireSecret('workspace health calls') }, async (request, reply) => {
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
  app.get<{ Querystring: Record<string, string | string[]> }>('/goals', { onRequest: requireSecret('goal list calls') }, async (request, reply) => {
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

  return app;
}
