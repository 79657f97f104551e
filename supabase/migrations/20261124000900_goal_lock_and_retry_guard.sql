-- Two refinements of the healing functions (20261124000300 stays as applied; these replace the
-- functions in place, keeping their grants):
-- 1. goalkeeper_ensure_goal_task locks the goal FOR NO KEY UPDATE instead of FOR UPDATE. Callers
--    for one goal still take turns, but the platform's own task inserts, whose foreign-key check
--    takes FOR KEY SHARE on the goal, no longer wait for a healing call to finish.
-- 2. goalkeeper_retry_task refuses (outcome goal_closed) to put a failed task back to work when
--    its goal is no longer active: the backoff before a retry can outlast the goal.
-- Outcomes of goalkeeper_retry_task: not_found, not_failed, already_retried, goal_closed,
-- retried, no_agent (the task stays failed).

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
    from workspace_goals where id = p_goal_id for no key update;
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

create or replace function goalkeeper_retry_task(
  p_task_id uuid, p_request_key text, p_assignable_statuses text[], p_max_provisioned int,
  p_workflow_id text default null
) returns jsonb language plpgsql as $$
declare
  t record;
  v_agent uuid;
  v_acquired jsonb;
  v_attempt int;
  v_goal_status text;
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
  -- The backoff before a retry lasts minutes: a goal completed or archived meanwhile gets no
  -- task put back to work (and no agent provisioned for it).
  select status into v_goal_status from workspace_goals where id = t.goal_id;
  if t.goal_id is not null and v_goal_status is distinct from 'active' then
    return jsonb_build_object('outcome', 'goal_closed', 'task_id', t.id,
                              'goal_status', coalesce(v_goal_status, 'deleted'));
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

select goalkeeper_restrict_access();
