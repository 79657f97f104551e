-- goalkeeper_retry_task reads its goal's status under a lock. It read it plainly before, so a
-- close committed between that read and the task's update could see its goal closed while the
-- retry still put the failed task back to pending under it (a platform that cancels a closed
-- goal's open tasks would miss it). Now the goal row is locked FOR SHARE first, before the task
-- (goal, then task: the order the ensure functions and the platform take them, so no deadlock
-- between them): a close in flight is waited for and then seen, and none commits mid-retry.
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
  v_goal_id uuid;
begin
  perform goalkeeper_check_statuses(p_assignable_statuses);
  if p_request_key is null or length(p_request_key) = 0 then
    raise exception 'retry request key must not be empty' using errcode = '22023';
  end if;
  -- The goal first (FOR SHARE: a close in flight is waited for, and none can commit until this
  -- retry has), then the task, in the order the ensure functions and the platform take them.
  select goal_id into v_goal_id from tasks where id = p_task_id;
  if v_goal_id is not null then
    select status into v_goal_status from workspace_goals where id = v_goal_id for share;
  end if;
  select id, workspace_id, goal_id, status, agent_id, assigned_to_role into t
    from tasks where id = p_task_id for update;
  if not found then
    return jsonb_build_object('outcome', 'not_found', 'task_id', p_task_id);
  end if;
  if t.goal_id is distinct from v_goal_id and t.goal_id is not null then
    -- Moved to another goal between the two reads: that goal's status, under the same lock.
    select status into v_goal_status from workspace_goals where id = t.goal_id for share;
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
