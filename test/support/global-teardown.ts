export default async function globalTeardown(): Promise<void> {
  const pg = (globalThis as { __goalkeeperPg?: { stop(): Promise<void> } }).__goalkeeperPg;
  await pg?.stop();
}
