/**
 * The command line's tables: cli-table3 with its colours (red headings, grey borders) only where
 * colour is wanted (src/colour.ts) and then only bold headings; a pipe, a file or NO_COLOR get
 * plain text.
 */
import Table from 'cli-table3';

export function textTable(head: string[], { colour = false }: { colour?: boolean } = {}): Table.Table {
  return new Table({ head, style: { head: colour ? ['bold'] : [], border: [] } });
}
