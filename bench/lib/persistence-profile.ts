/**
 * Where the dev server's time goes: its own Prometheus counters of persistence requests and their
 * summed latency, per operation. The dev server keeps everything in one SQLite file behind one
 * connection, so these calls are what a burst waits on; a before/after diff divided by the goals
 * tells which operations each goal costs.
 */

export interface OperationTotals {
  requests: number;
  seconds: number;
}

export type PersistenceSnapshot = Map<string, OperationTotals>;

// persistence_requests{namespace="default",operation="CreateWorkflowExecution",service_name="history"} 12
const SAMPLE = /^(persistence_requests|persistence_latency_sum)\{([^}]*)\}\s+([0-9.eE+-]+)$/;
const OPERATION = /operation="([^"]+)"/;

export async function persistenceSnapshot(metricsPort: number): Promise<PersistenceSnapshot> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  if (!res.ok) throw new Error(`dev server metrics on port ${metricsPort} answered ${res.status}`);
  const totals: PersistenceSnapshot = new Map();
  for (const line of (await res.text()).split('\n')) {
    const m = SAMPLE.exec(line);
    const op = m && OPERATION.exec(m[2]);
    if (!m || !op) continue;
    const t = totals.get(op[1]) ?? { requests: 0, seconds: 0 };
    if (m[1] === 'persistence_requests') t.requests += Number(m[3]);
    else t.seconds += Number(m[3]);
    totals.set(op[1], t);
  }
  return totals;
}

export interface OperationPerUnit {
  operation: string;
  perUnit: number;
  msPerUnit: number;
}

/** after − before, per unit (goal or workflow), busiest first; operations under 0.05 per unit dropped. */
export function persistencePerUnit(before: PersistenceSnapshot, after: PersistenceSnapshot, units: number): {
  requestsPerUnit: number;
  msPerUnit: number;
  operations: OperationPerUnit[];
} {
  const operations: OperationPerUnit[] = [];
  let requests = 0;
  let seconds = 0;
  for (const [operation, a] of after) {
    const b = before.get(operation) ?? { requests: 0, seconds: 0 };
    const dr = a.requests - b.requests;
    const ds = a.seconds - b.seconds;
    requests += dr;
    seconds += ds;
    if (dr / units >= 0.05) {
      operations.push({ operation, perUnit: round(dr / units), msPerUnit: round((ds * 1000) / units) });
    }
  }
  operations.sort((x, y) => y.msPerUnit - x.msPerUnit);
  return { requestsPerUnit: round(requests / units), msPerUnit: round((seconds * 1000) / units), operations };
}

const round = (n: number) => Number(n.toFixed(2));
