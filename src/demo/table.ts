/**
 * The demo's live table: one row per goal (goal, task, agent, health, time to heal). On a terminal
 * it redraws in place; elsewhere (CI logs, tests) it prints a line whenever a goal's row changes.
 */
import { textTable } from '../table';
import { useColour } from '../colour';

export interface DemoRow {
  goal: string;
  task: string;
  agent: string;
  health: string;
  timeToHeal: string;
}

export interface Writable {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export function renderTable(rows: DemoRow[], { colour = false }: { colour?: boolean } = {}): string {
  const table = textTable(['goal', 'task', 'agent', 'health', 'time to heal'], { colour });
  for (const r of rows) table.push([r.goal, r.task, r.agent, r.health, r.timeToHeal]);
  return table.toString();
}

export class LiveTable {
  private drawnLines = 0;
  private last = new Map<string, string>();

  constructor(private readonly out: Writable) {}

  update(rows: DemoRow[]): void {
    if (this.out.isTTY) {
      const text = renderTable(rows, { colour: useColour(this.out) });
      // Cursor up over the previous drawing, then clear to the end of the screen and redraw.
      const rewind = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A\x1b[0J` : '';
      this.out.write(`${rewind}${text}\n`);
      this.drawnLines = text.split('\n').length;
      return;
    }
    for (const r of rows) {
      const line = `${r.goal} | task ${r.task} | agent ${r.agent} | ${r.health}${r.timeToHeal ? ` | healed in ${r.timeToHeal}` : ''}`;
      if (this.last.get(r.goal) !== line) this.out.write(`${line}\n`);
      this.last.set(r.goal, line);
    }
  }

  /** The final table, drawn once more on a non-terminal so the log ends with the whole picture. */
  finish(rows: DemoRow[]): void {
    if (this.out.isTTY) this.update(rows);
    else this.out.write(`${renderTable(rows)}\n`);
  }
}
