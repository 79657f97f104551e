/**
 * The command line's tables: cli-table3 without its own colours (red headings, grey borders, and
 * a colour library that decides for itself whether the terminal takes colour). Where colour is
 * wanted (src/colour.ts) the headings are bold, written here; a pipe, a file or NO_COLOR get
 * plain text.
 */
import Table from 'cli-table3';

const bold = (text: string): string => `\x1b[1m${text}\x1b[22m`;

export function textTable(head: string[], { colour = false }: { colour?: boolean } = {}): Table.Table {
  return new Table({ head: colour ? head.map(bold) : head, style: { head: [], border: [] } });
}
