-- The healing functions. Each is one atomic, idempotent step: repeated, or run by many callers at
-- once, it leaves the same state. Concurrency is handled with row locks (the goal or task row,
-- FOR UPDATE) and a per-workspace advisory lock around provisioning: never check-then-insert.
-- Every function takes the assignable agent statuses as an argument so that the service's single
-- AGENT_ASSIGNABLE_STATUSES setting is the only definition in force.

-- Rejects an empty or NULL status set: with it every agent would look unassignable and the
-- functions would provision agents for nothing.
create or replace function goalkeeper_check_statuses(p_statuses text[]) returns void
language plpgsql immutable as $$
begin
  if p_statuses is null or cardinality(p_statuses) = 0 then
    raise exception 'assignable agent statuses must not be empty' using errcode = '22023';
  end if;
end $$;

create or replace function goalkeeper_seniority_rank(p_seniority text) returns int
language sql immutable as $$
  select case lower(coalesce(p_seniority, ''))
    when 'expert' then 0 when 'senior' then 1 when 'junior' then 2 else 3 end
$$;

-- The best assignable agent of a workspace: same role first, then the fewest open tasks, then
-- seniority, then id (so the choice is deterministic).
create or replace function goalkeeper_pick_agent(p_workspace_id uuid, p_role text, p_statuses text[])
returns uuid language sql stable as $$
  select a.id
  from agents a
  where a.workspace_id = p_workspace_id and a.status = any (p_statuses)
  order by (p_role is not null and a.role = p_role) desc,
           (select count(*) from tasks t
             where t.agent_id = a.id and t.status in ('pending', 'in_progress')),
           goalkeeper_seniority_rank(a.seniority),
           a.id
  limit 1
$$;

-- Writes one logs row the way the platform reads it. Internal: the public entry point with an
-- idempotency key is goalkeeper_record_event.
create or replace function goalkeeper_write_log(
  p_workspace_id uuid, p_kind text, p_issue_type text, p_text text, p_severity text,
  p_goal_id uuid, p_task_id uuid, p_workflow_id text, p_details jsonb default '{}'::jsonb
) returns uuid language plpgsql as $$
declare v_id uuid;
begin
  insert into logs (workspace_id, type, message, metadata, created_at, updated_at)
  values (
    p_workspace_id, 'system',
    case when p_kind = 'alert' then 'WORKSPACE HEALTH ALERT: ' || p_issue_type
         else 'AUTO-HEALING: ' || p_text end,
    coalesce(p_details, '{}'::jsonb) || jsonb_build_object(
      'source', 'goalkeeper', 'kind', p_kind, 'goal_id', p_goal_id, 'task_id', p_task_id,
      'issue_type', p_issue_type, 'severity', p_severity, 'workflow_id', p_workflow_id,
      'description', p_text),
    now(), now())
  returning id into v_id;
  return v_id;
end $$;

-- Finds an assignable agent for a task of p_workspace_id or provisions one, bounded by
-- p_max_provisioned goalkeeper-provisioned agents per workspace. Returns
-- {agent_id, provisioned, cap_reached}; agent_id is null only when the cap is reached.
create or replace function goalkeeper_acquire_agent(
  p_workspace_id uuid, p_role text, p_statuses text[], p_max_provisioned int,
  p_goal_id uuid, p_task_id uuid, p_workflow_id text
) returns jsonb language plpgsql as $$
declare
  v_agent uuid;
  v_count int;
  v_role text := coalesce(nullif(p_role, ''), 'generalist');
begin
  v_agent := goalkeeper_pick_agent(p_workspace_id, p_role, p_statuses);
  if v_agent is not null then
    return jsonb_build_object('agent_id', v_agent, 'provisioned', false, 'cap_reached', false);
  end if;
  -- Serialise provisioning per workspace, then look again: a caller that held the lock before us
  -- may have provisioned the agent we need (READ COMMITTED sees its commit).
  perform pg_advisory_xact_lock(hashtextextended('goalkeeper:provision:' || p_workspace_id::text, 0));
  v_agent := goalkeeper_pick_agent(p_workspace_id, p_role, p_statuses);
  if v_agent is not null then
    return jsonb_build_object('agent_id', v_agent, 'provisioned', false, 'cap_reached', false);
  end if;
  select count(*) into v_count from goalkeeper_provisioned_agents where workspace_id = p_workspace_id;
  if v_count >= greatest(p_max_provisioned, 0) then
    return jsonb_build_object('agent_id', null, 'provisioned', false, 'cap_reached', true);
  end if;
  insert into agents (workspace_id, name, role, seniority, status, created_at, updated_at)
  values (p_workspace_id, 'goalkeeper-provisioned ' || v_role || ' agent', v_role, 'senior',
          case when 'active' = any (p_statuses) then 'active' else p_statuses[1] end, now(), now())
  returning id into v_agent;
  insert into goalkeeper_provisioned_agents (agent_id, workspace_id, goal_id, task_id)
  values (v_agent, p_workspace_id, p_goal_id, p_task_id);
  perform goalkeeper_write_log(p_workspace_id, 'healing', 'NO_AGENTS_AVAILABLE',
    'provisioned agent ' || v_agent || ' (' || v_role || ')', 'info', p_goal_id, p_task_id,
    p_workflow_id, jsonb_build_object('agent_id', v_agent));
  return jsonb_build_object('agent_id', v_agent, 'provisioned', true, 'cap_reached', false);
end $$;

-- The goal's tasks that are still in play (not completed or cancelled), with whether each needs
-- an agent under p_statuses.
create or replace function goalkeeper_goal_tasks(p_goal_id uuid, p_statuses text[])
returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', t.id, 'status', t.status, 'agent_id', t.agent_id, 'agent_status', a.status,
           'role', t.assigned_to_role,
           'needs_agent',
             (t.status in ('pending', 'in_progress', 'failed') and t.agent_id is null)
             or (t.status = 'pending' and (a.id is null or not (a.status = any (p_statuses)))))
         order by t.created_at, t.id), '[]'::jsonb)
  from (select * from tasks
         where goal_id = p_goal_id and status not in ('completed', 'cancelled')
         order by created_at, id limit 50) t
  left join agents a on a.id = t.agent_id
$$;

-- Makes sure an active goal has a task. Outcomes: closed (goal missing or not active), exists,
-- created (one task written together with its agent), no_agent (no agent could be found or
-- provisioned, so no task was written: production's check_agent_assignment forbids an open task
-- without one). The goal row lock makes concurrent callers for one goal take turns, so twenty at
-- once still create one task.
create or replace function goalkeeper_ensure_goal_task(
  p_goal_id uuid, p_assignable_statuses text[], p_max_provisioned int, p_workflow_id text default null
) returns jsonb language plpgsql as $$
declare
  g record;
  v_acquired jsonb;
  v_task uuid;
  v_outcome text;
  v_goal jsonb;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  select id, workspace_id, status, metric_type, description, priority into g
    from workspace_goals where id = p_goal_id for update;
  if not found then
    return jsonb_build_object('outcome', 'closed', 'reason', 'goal_not_found', 'goal', null,
                              'tasks', '[]'::jsonb);
  end if;
  v_goal := jsonb_build_object('id', g.id, 'workspace_id', g.workspace_id, 'status', g.status,
                               'metric_type', g.metric_type, 'description', g.description);
  if g.status is distinct from 'active' then
    return jsonb_build_object('outcome', 'closed', 'reason', 'goal_' || coalesce(g.status, 'null'),
                              'goal', v_goal, 'tasks', '[]'::jsonb);
  end if;

  -- A cancelled task no longer works towards the goal; any other status does.
  if exists (select 1 from tasks where goal_id = p_goal_id and status <> 'cancelled') then
    v_outcome := 'exists';
  else
    v_acquired := goalkeeper_acquire_agent(g.workspace_id, null, p_assignable_statuses,
                                           p_max_provisioned, g.id, null, p_workflow_id);
    if v_acquired->>'agent_id' is null then
      v_outcome := 'no_agent';
    else
      insert into tasks (workspace_id, agent_id, name, description, status, priority, goal_id,
                         metric_type, context_data, created_at, updated_at)
      values (g.workspace_id, (v_acquired->>'agent_id')::uuid,
              left('Deliver ' || coalesce(nullif(g.description, ''), g.metric_type), 200),
              coalesce(g.description, 'Work towards the goal''s ' || g.metric_type || ' target'),
              'pending',
              -- Goal priority 1 is the most urgent (the platform's P1 convention).
              case when coalesce(g.priority, 1) <= 1 then 'high'
                   when g.priority <= 3 then 'medium' else 'low' end,
              g.id, g.metric_type,
              jsonb_build_object('created_by', 'goalkeeper', 'workflow_id', p_workflow_id),
              now(), now())
      returning id into v_task;
      perform goalkeeper_write_log(g.workspace_id, 'healing', 'NO_TASKS_FOR_GOAL',
        'created task ' || v_task || ' for goal ' || g.id, 'info', g.id, v_task, p_workflow_id,
        jsonb_build_object('agent_id', v_acquired->>'agent_id'));
      v_outcome := 'created';
    end if;
  end if;
  return jsonb_build_object(
    'outcome', v_outcome, 'goal', v_goal, 'created_task_id', v_task,
    'provisioned_agent', coalesce((v_acquired->>'provisioned')::boolean, false),
    'tasks', goalkeeper_goal_tasks(p_goal_id, p_assignable_statuses));
end $$;

-- Makes sure a task has an assignable agent. A pending, in_progress or failed task with no agent,
-- or a pending task whose agent is gone or not assignable, gets one; existing agent rows are never
-- modified. Outcomes: not_found, ok (nothing to do), assigned, no_agent (cap reached).
create or replace function goalkeeper_ensure_task_agent(
  p_task_id uuid, p_assignable_statuses text[], p_max_provisioned int, p_workflow_id text default null
) returns jsonb language plpgsql as $$
declare
  t record;
  v_agent_status text;
  v_agent_exists boolean;
  v_acquired jsonb;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  select id, workspace_id, goal_id, status, agent_id, assigned_to_role into t
    from tasks where id = p_task_id for update;
  if not found then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id);
  end if;
  select true, a.status into v_agent_exists, v_agent_status from agents a where a.id = t.agent_id;
  if not (
      (t.status in ('pending', 'in_progress', 'failed') and t.agent_id is null)
      or (t.status = 'pending' and (v_agent_exists is null or not (v_agent_status = any (p_assignable_statuses))))
  ) then
    return jsonb_build_object('outcome', 'ok', 'task_id', t.id, 'agent_id', t.agent_id);
  end if;
  v_acquired := goalkeeper_acquire_agent(t.workspace_id, t.assigned_to_role, p_assignable_statuses,
                                         p_max_provisioned, t.goal_id, t.id, p_workflow_id);
  if v_acquired->>'agent_id' is null then
    return jsonb_build_object('outcome', 'no_agent', 'task_id', t.id, 'agent_id', t.agent_id);
  end if;
  update tasks set agent_id = (v_acquired->>'agent_id')::uuid, updated_at = now() where id = t.id;
  perform goalkeeper_write_log(t.workspace_id, 'healing', 'TASK_WITHOUT_AGENT',
    'assigned agent ' || (v_acquired->>'agent_id') || ' to task ' || t.id, 'info', t.goal_id, t.id,
    p_workflow_id, jsonb_build_object('agent_id', v_acquired->>'agent_id',
                                      'previous_agent_id', t.agent_id,
                                      'provisioned', v_acquired->'provisioned'));
  return jsonb_build_object('outcome', 'assigned', 'task_id', t.id,
                            'agent_id', v_acquired->>'agent_id',
                            'provisioned', v_acquired->'provisioned');
end $$;

-- Puts a failed task back to pending with an assignable agent in one UPDATE, so that a production
-- check_agent_assignment holds at every moment, and records the attempt (tasks has no retry
-- counter). p_request_key is the idempotency key: the same request twice retries once.
-- Outcomes: not_found, not_failed, already_retried, retried, no_agent (the task stays failed).
create or replace function goalkeeper_retry_task(
  p_task_id uuid, p_request_key text, p_assignable_statuses text[], p_max_provisioned int,
  p_workflow_id text default null
) returns jsonb language plpgsql as $$
declare
  t record;
  v_agent uuid;
  v_acquired jsonb;
  v_attempt int;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  if p_request_key is null or length(p_request_key) = 0 then
    raise exception 'retry request key must not be empty' using errcode = '22023';
  end if;
  select id, workspace_id, goal_id, status, agent_id, assigned_to_role into t
    from tasks where id = p_task_id for update;
  if not found then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id);
  end if;
  select attempt into v_attempt from goalkeeper_task_attempts where request_key = p_request_key;
  if found then
    return jsonb_build_object('outcome', 'already_retried', 'task_id', t.id, 'agent_id', t.agent_id,
                              'attempt', v_attempt);
  end if;
  if t.status <> 'failed' then
    return jsonb_build_object('outcome', 'not_failed', 'task_id', t.id, 'status', t.status);
  end if;
  select a.id into v_agent from agents a
   where a.id = t.agent_id and a.status = any (p_assignable_statuses);
  if v_agent is null then
    v_acquired := goalkeeper_acquire_agent(t.workspace_id, t.assigned_to_role, p_assignable_statuses,
                                           p_max_provisioned, t.goal_id, t.id, p_workflow_id);
    v_agent := (v_acquired->>'agent_id')::uuid;
    if v_agent is null then
      return jsonb_build_object('outcome', 'no_agent', 'task_id', t.id);
    end if;
  end if;
  update tasks set status = 'pending', agent_id = v_agent, updated_at = now() where id = t.id;
  -- The task row lock is held, so max() cannot race another retry of the same task.
  select coalesce(max(attempt), 0) + 1 into v_attempt from goalkeeper_task_attempts where task_id = t.id;
  insert into goalkeeper_task_attempts (task_id, attempt, request_key, goal_id, workflow_id)
  values (t.id, v_attempt, p_request_key, t.goal_id, p_workflow_id);
  perform goalkeeper_write_log(t.workspace_id, 'healing', 'TASK_FAILED',
    'retried task ' || t.id || ' (attempt ' || v_attempt || ') with agent ' || v_agent, 'info',
    t.goal_id, t.id, p_workflow_id, jsonb_build_object('agent_id', v_agent, 'attempt', v_attempt));
  return jsonb_build_object('outcome', 'retried', 'task_id', t.id, 'agent_id', v_agent,
                            'attempt', v_attempt);
end $$;

-- Records an alert or a healing action as a logs row, once per idempotency key: an activity
-- retried after a crash (same key) writes no second row. Returns {log_id, created}.
create or replace function goalkeeper_record_event(
  p_idempotency_key text, p_kind text, p_workspace_id uuid, p_goal_id uuid, p_task_id uuid,
  p_issue_type text, p_severity text, p_text text, p_workflow_id text,
  p_details jsonb default '{}'::jsonb
) returns jsonb language plpgsql as $$
declare
  v_log uuid;
  v_claimed text;
begin
  if p_idempotency_key is null or length(p_idempotency_key) = 0 then
    raise exception 'idempotency key must not be empty' using errcode = '22023';
  end if;
  if p_kind not in ('alert', 'healing') then
    raise exception 'kind must be alert or healing, got %', p_kind using errcode = '22023';
  end if;
  if p_issue_type is null or p_issue_type !~ '^[A-Z][A-Z_]*$' then
    raise exception 'issue type must be UPPER_SNAKE_CASE, got %', p_issue_type using errcode = '22023';
  end if;
  -- Claim the key first; a concurrent caller with the same key waits here, then finds it taken.
  insert into goalkeeper_log_keys (idempotency_key, log_id)
  values (p_idempotency_key, gen_random_uuid())
  on conflict (idempotency_key) do nothing
  returning log_id into v_claimed;
  if v_claimed is null then
    select log_id into v_log from goalkeeper_log_keys where idempotency_key = p_idempotency_key;
    return jsonb_build_object('log_id', v_log, 'created', false);
  end if;
  v_log := goalkeeper_write_log(p_workspace_id, p_kind, p_issue_type, p_text, p_severity,
                                p_goal_id, p_task_id, p_workflow_id, p_details);
  update goalkeeper_log_keys set log_id = v_log where idempotency_key = p_idempotency_key;
  return jsonb_build_object('log_id', v_log, 'created', true);
end $$;

-- Active goals after p_after in id order (keyset pagination for the reconcile sweep).
create or replace function goalkeeper_list_active_goals(p_after uuid, p_limit int)
returns jsonb language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', g.id, 'workspace_id', g.workspace_id)
                            order by g.id), '[]'::jsonb)
  from (select id, workspace_id from workspace_goals
         where status = 'active' and (p_after is null or id > p_after)
         order by id limit least(greatest(coalesce(p_limit, 1), 1), 5000)) g
$$;
