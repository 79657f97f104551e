/**
 * The embedded dev server keeps its search-attribute cache on (half its persistence calls per
 * goal), which is safe only because goalkeeper's attributes are registered at launch: an attribute
 * added through the API afterwards stays unknown to the cache for seconds and fails the first
 * workflow starts that carry it. This checks the first start right after launch, and again after a
 * restart on the same history file (the attributes are then already there).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { startEmbeddedTemporal, type EmbeddedTemporalHandle } from '../../src/embedded/temporal';
import { GOAL_SEARCH_ATTRIBUTES, WorkspaceIdKey } from '../../workflows/messages';
import { waitFor } from '../support/servers';

const dbFilename = join(mkdtempSync(join(tmpdir(), 'goalkeeper-embedded-temporal-')), 'temporal.db');
let temporal: EmbeddedTemporalHandle | undefined;

afterAll(async () => {
  await temporal?.stop();
});

/** Starts a workflow carrying WorkspaceId (no worker needed: it only has to be accepted and indexed). */
async function startWithWorkspaceId(address: string, workflowId: string, workspaceId: string): Promise<number> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    await client.workflow.start('goalWorkflow', {
      taskQueue: 'nobody-polls-this',
      workflowId,
      args: [],
      typedSearchAttributes: [{ key: WorkspaceIdKey, value: workspaceId }],
    });
    return await waitFor(`workflows with WorkspaceId ${workspaceId} to be indexed`, async () => {
      const { count } = await client.workflow.count(`WorkspaceId = "${workspaceId}"`);
      return count > 0 ? count : undefined;
    });
  } finally {
    await connection.close();
  }
}

test('search attributes given at launch are usable by the first start, and again after a restart on the same file', async () => {
  const searchAttributes = GOAL_SEARCH_ATTRIBUTES.map((key) => key.name);
  temporal = await startEmbeddedTemporal({ dbFilename, searchAttributes });
  expect(await startWithWorkspaceId(temporal.address, 'first-start', 'ws-before-restart')).toBe(1);
  await temporal.stop();

  temporal = await startEmbeddedTemporal({ dbFilename, searchAttributes });
  expect(await startWithWorkspaceId(temporal.address, 'after-restart', 'ws-after-restart')).toBe(1);
  // The history file carried the first workflow across the restart.
  const connection = await Connection.connect({ address: temporal.address });
  try {
    const { count } = await new Client({ connection }).workflow.count('WorkflowId = "first-start"');
    expect(count).toBe(1);
  } finally {
    await connection.close();
  }
});

test('a dev server that cannot start says why: its own error, after every try', async () => {
  // The UI port asked for is taken, so each try exits at once: the error names the port and the
  // CLI's own message, read to the end of its stderr after the exit.
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const uiPort = (blocker.address() as { port: number }).port;
  try {
    await expect(startEmbeddedTemporal({ uiPort })).rejects.toThrow(
      new RegExp(`temporal dev server exited while starting, 3 times; last: exit code 1: Error: can't set UI port ${uiPort}: .*address already in use`),
    );
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});
