/**
 * `goalkeeper claim-namespace`: shows which database the namespace serves, and with --force makes
 * it this one (src/namespace-claim.ts). --force is for after confirming that the database named in
 * the claim no longer uses the namespace (decommissioned, or moved to another namespace): two
 * databases on one namespace steer each other's goal workflows.
 */
import type { Command } from 'commander';
import { loadCommandConfig } from '../command-config';
import { ensureNamespaceClaim, forceClaim, readClaim, sameDatabase } from '../namespace-claim';
import { createStore } from '../store';
import { connectClient } from '../temporal/connection';

export function register(program: Command): void {
  program
    .command('claim-namespace')
    .description('claim TEMPORAL_NAMESPACE for this database (the first start does it too); --force takes it over from another database')
    .option('--force', 'replace the claim of another database (only once that database no longer uses this namespace)')
    .action(async (opts: { force?: boolean }) => {
      const config = loadCommandConfig();
      const store = createStore(config);
      const client = await connectClient(config);
      try {
        const self = await store.instanceIdentity();
        const namespace = config.temporal.namespace;
        if (opts.force) {
          const previous = await forceClaim(client, self, config.temporal.taskQueue);
          const from = previous && !sameDatabase(previous, self) ? ` (it served database ${previous.instanceId} before)` : '';
          console.log(`namespace "${namespace}" now serves database ${self.instanceId}${from}`);
          return;
        }
        const outcome = await ensureNamespaceClaim(client, namespace, self, config.temporal.taskQueue);
        const claim = await readClaim(client);
        console.log(`namespace "${namespace}" serves database ${self.instanceId} (${outcome === 'claimed' ? 'claimed now' : `claimed ${claim?.claimedAt}`})`);
      } finally {
        await store.close();
        await client.connection.close();
      }
    });
}
