/**
 * Prints a table and writes bench/results/<name>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, cpus, totalmem } from 'node:os';
import Table from 'cli-table3';
import { REPO_ROOT } from '../../test/support/servers';

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

export function machine() {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    loadavg: loadavg().map((l) => Number(l.toFixed(2))),
    node: process.version,
    at: new Date().toISOString(),
  };
}

export function fmt(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
  if (v === null || v === undefined) return '-';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function printTable(title: string, rows: Array<[string, unknown]>): void {
  const table = new Table({ head: [title, 'value'] });
  for (const [k, v] of rows) table.push([k, fmt(v)]);
  console.log(table.toString());
}

export function writeResult(name: string, result: Record<string, unknown>): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, machineAtEnd: machine(), ...result }, null, 2) + '\n');
  return file;
}
