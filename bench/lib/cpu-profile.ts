/**
 * Where the machine's CPU goes during a scenario: CPU time of named process trees (the Temporal
 * server, Postgres with its backends, the worker), read from /proc before and after. On two cores
 * this answers what a throughput figure is bound by: 2,000 ms of CPU per second, divided by the
 * CPU milliseconds every goal costs across all the processes it touches.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every mainstream kernel config. */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  ppid: number;
  /** Own utime + stime, plus cutime + cstime of children it has reaped (ticks). */
  ticks: number;
}

function readProcStats(): Map<number, ProcStat> {
  const stats = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const raw = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: the fields after it start
      // after its last ')'.
      const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
      // fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
      const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      stats.set(Number(entry), { ppid: Number(fields[1]), ticks });
    } catch {
      // The process ended between readdir and read: its time is in its parent's cutime/cstime.
    }
  }
  return stats;
}

/** CPU seconds used so far by each named process and all its live descendants, and by each
 * process of `selfOnly` alone (the bench's own process, whose descendants are the other servers). */
export function cpuSnapshot(roots: Record<string, number | undefined>, selfOnly: Record<string, number> = {}): Record<string, number> {
  const stats = readProcStats();
  const children = new Map<number, number[]>();
  for (const [pid, s] of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), pid]);
  const treeTicks = (pid: number): number =>
    (stats.get(pid)?.ticks ?? 0) + (children.get(pid) ?? []).reduce((sum, child) => sum + treeTicks(child), 0);
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(roots)) {
    if (pid !== undefined) out[name] = treeTicks(pid) / TICKS_PER_SECOND;
  }
  for (const [name, pid] of Object.entries(selfOnly)) out[name] = (stats.get(pid)?.ticks ?? 0) / TICKS_PER_SECOND;
  return out;
}

/** CPU milliseconds per unit (goal) for each process tree, and their sum. */
export function cpuMsPerUnit(before: Record<string, number>, after: Record<string, number>, units: number): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const name of Object.keys(after)) {
    const ms = ((after[name] - (before[name] ?? 0)) * 1000) / units;
    out[name] = Number(ms.toFixed(2));
    total += ms;
  }
  out.total = Number(total.toFixed(2));
  return out;
}
