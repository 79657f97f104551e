/**
 * Terminal conventions: colour only on a terminal and never with NO_COLOR, tables with no escape
 * codes elsewhere, and `goalkeeper up`'s ready block and `goalkeeper env`'s shell lines.
 */
import { useColour } from '../../src/colour';
import { formatEnv } from '../../src/commands/env';
import { formatGoalList } from '../../src/goal-list';
import { formatReadyBlock } from '../../src/ready-block';
import { renderTable } from '../../src/demo/table';

const ESC = '\x1b[';

test('colour: on a terminal only, never with NO_COLOR, and FORCE_COLOR asks for it anyway', () => {
  expect(useColour({ isTTY: true }, {})).toBe(true);
  expect(useColour({ isTTY: false }, {})).toBe(false);
  expect(useColour({}, {})).toBe(false);
  expect(useColour({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
  expect(useColour({ isTTY: true }, { NO_COLOR: '' })).toBe(true); // no-color.org: an empty value does not count
  expect(useColour({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
  expect(useColour({ isTTY: false }, { FORCE_COLOR: '0' })).toBe(false);
  expect(useColour({ isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe(false);
});

const list = {
  query: 'WorkflowType = "goalWorkflow"',
  truncated: false,
  goals: [
    {
      goalId: '11111111-1111-4111-8111-111111111111',
      workspaceId: '22222222-2222-4222-8222-222222222222',
      health: 'healthy',
      metricType: 'deliverables',
      description: 'ship the thing',
      runStartedAt: '2026-12-06T03:00:00.000Z',
    },
  ],
} as unknown as Parameters<typeof formatGoalList>[0];

test('a table without colour has no escape codes; with colour, bold headings and never red', () => {
  const plain = formatGoalList(list);
  expect(plain).not.toContain(ESC);
  expect(plain).toContain('ship the thing');
  const coloured = formatGoalList(list, { colour: true });
  expect(coloured).toContain(`${ESC}1m`);
  expect(coloured).not.toContain(`${ESC}31m`);
  expect(coloured).not.toContain(`${ESC}90m`); // cli-table3's grey borders
  expect(renderTable([{ goal: 'g', task: 't', agent: 'a', health: 'healthy', timeToHeal: '1.0s' }])).not.toContain(ESC);
});

test("the ready block names the UI, the database URL in full, the webhook, the metrics and what to try next", () => {
  const block = formatReadyBlock({
    uiUrl: 'http://localhost:8233',
    database: { url: 'postgres://postgres:goalkeeper@127.0.0.1:54329/postgres', embedded: true, dataPath: '/x/.goalkeeper/pg' },
    temporal: { address: '127.0.0.1:7233', embedded: true, namespace: 'default' },
    webhookUrl: 'http://localhost:8787/webhooks/supabase',
    webhookSecretSet: false,
    metricsUrl: 'http://localhost:9464/metrics',
  });
  expect(block).not.toContain(ESC);
  expect(block).toContain('http://localhost:8233/namespaces/default/workflows');
  expect(block).toContain('postgres://postgres:goalkeeper@127.0.0.1:54329/postgres  (embedded, data in /x/.goalkeeper/pg)');
  expect(block).toContain('http://localhost:8787/webhooks/supabase  (refuses calls until WEBHOOK_SECRET is set)');
  expect(block).toContain('http://localhost:9464/metrics');
  expect(block).toContain('npm run demo');
  expect(block.trim().split('\n').length).toBeLessThanOrEqual(12);
});

test('`goalkeeper env` prints shell assignments, quoting what a shell would split', () => {
  const text = formatEnv({
    source: 'running goalkeeper up',
    pid: 42,
    DATABASE_URL: 'postgres://postgres:goalkeeper@127.0.0.1:54329/postgres',
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
    TEMPORAL_NAMESPACE: "team's space",
    uiUrl: 'http://localhost:8233',
  });
  expect(text.split('\n')).toEqual([
    '# from the running goalkeeper up (pid 42)',
    'DATABASE_URL=postgres://postgres:goalkeeper@127.0.0.1:54329/postgres',
    'TEMPORAL_ADDRESS=127.0.0.1:7233',
    "TEMPORAL_NAMESPACE='team'\\''s space'",
    '# Temporal Web UI: http://localhost:8233',
  ]);
});
