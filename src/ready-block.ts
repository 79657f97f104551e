/**
 * What `goalkeeper up` (`npm start`) prints once everything runs: where each part is and what to
 * try next, in a few lines, so a first screen is not a scroll of start-up logs. For people only:
 * with JSON logs the same facts are one log line.
 */
export interface ReadyFacts {
  uiUrl?: string;
  /** The connection string (the embedded admin's in full: it is local, and people need it for
   * their own SQL; the services themselves connect as a login holding only goalkeeper_runtime). */
  database: { url: string; embedded: boolean; dataPath?: string };
  temporal: { address: string; embedded: boolean; namespace: string };
  webhookUrl?: string;
  webhookSecretSet: boolean;
  metricsUrl?: string;
}

export function formatReadyBlock(facts: ReadyFacts, { colour = false } = {}): string {
  const bold = (text: string) => (colour ? `\x1b[1m${text}\x1b[22m` : text);
  const rows: Array<[string, string]> = [];
  if (facts.uiUrl) rows.push(['Temporal Web UI', `${facts.uiUrl}/namespaces/${facts.temporal.namespace}/workflows`]);
  rows.push(['Database', `${facts.database.url}${facts.database.embedded ? `  (embedded${facts.database.dataPath ? `, data in ${facts.database.dataPath}` : ''})` : ''}`]);
  rows.push(['Temporal', `${facts.temporal.address}${facts.temporal.embedded ? '  (embedded dev server)' : ''}`]);
  if (facts.webhookUrl) rows.push(['Webhook', `${facts.webhookUrl}${facts.webhookSecretSet ? '' : '  (refuses calls until WEBHOOK_SECRET is set)'}`]);
  if (facts.metricsUrl) rows.push(['Metrics', facts.metricsUrl]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    '',
    `${bold('goalkeeper is up.')} Ctrl-C stops it; starting it again resumes every goal.`,
    '',
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    `  Next: in another terminal, ${bold('npm run demo')} seeds an incident and heals it on this stack;`,
    '        npx goalkeeper goals lists the goal workflows; npx goalkeeper env prints these settings.',
    '',
  ].join('\n');
}
