/**
 * The admin listener of the `serve` primary with `workers` > 1 (issue 14, README "Operating a fleet"). The primary
 * serves `/healthz`, `/readyz` and `/metrics` for the whole process group:
 *
 * - `/healthz` is the primary's own state: 503 from the drain signal on.
 * - `/readyz` asks every live worker for the verdict its own admin would give (`admin/readiness.ts`) and is 200
 *   only when all are ready; the 503 body names each worker that is not, and why.
 * - `/metrics` is one scrape for the group. Request, refusal, upstream-error and duration series are counted here
 *   from the audit events every worker already sends the primary (each exactly once), so they are the sum over the
 *   workers and survive a worker's restart. The component figures (connections, caches, pool, agent) are asked
 *   of each worker at scrape time and summed; the audit figures are the primary's own sinks plus what workers
 *   could not hand over. `clef_proxy_build_info` comes from this one registry, once.
 *
 * Why not prom-client's AggregatorRegistry: it sums each worker's own registry, so a restarted worker's request
 * counters would vanish from the total (a counter going down), every worker would have to count on its hot path
 * what the primary already sees, and readiness needs a per-worker round trip anyway — one `clef-stats` message
 * carries both.
 */

import type { Worker } from 'node:cluster';
import { clusterReadiness, type WorkerVerdict } from '../admin/readiness.js';
import { type AdminProbes, type AdminServer, startAdminServer } from '../admin/server.js';
import type { CountingAuditSink } from '../audit/create-sink.js';
import type { ListenAddress } from '../config/types.js';
import { ExitCode, StartupError } from '../exit-codes.js';
import { packageVersion } from '../metrics/build-info.js';
import { sumGauges } from '../metrics/gauges.js';
import { createMetrics, type MetricsEndpoint, type ProxyGauges } from '../metrics/registry.js';
import type { Tally } from '../metrics/tally.js';
import type { StatsCollector, StatsTarget } from './stats.js';

/** One live worker as the primary tracks it; `bound` once it reported `clef-listening`. */
export interface LiveWorker {
  readonly worker: Worker;
  readonly bound: boolean;
}

/** What the primary admin reads. */
export interface PrimaryAdminOptions {
  readonly listen: ListenAddress;
  readonly draining: () => boolean;
  /** The primary's live workers by cluster id (read at each request). */
  readonly live: ReadonlyMap<number, LiveWorker>;
  readonly collector: StatsCollector;
  /** Counts every audit event the workers send (the primary's observing sink fills it). */
  readonly tally: Tally;
  /** The primary's audit sinks: what was written and dropped. */
  readonly audit: CountingAuditSink;
}

const target = ({ worker }: LiveWorker): StatsTarget => ({
  id: worker.id,
  send: (m) => {
    if (worker.isConnected()) worker.send(m);
  },
});

/** Bind the primary's admin listener; rejects with a StartupError (exit 6) when it cannot. */
export async function startPrimaryAdmin(o: PrimaryAdminOptions): Promise<AdminServer> {
  const bound = () => [...o.live.values()].filter((w) => w.bound).map(target);
  const metrics = createMetrics({
    tally: o.tally,
    version: packageVersion(),
    async gauges(): Promise<ProxyGauges> {
      const reports = await o.collector.collect(bound());
      const all: ProxyGauges[] = [];
      for (const r of reports.values()) if (r) all.push(r.gauges);
      const sum = sumGauges(all);
      const audit = o.audit.stats();
      // Workers write nothing themselves (their sink is the IPC channel); what they dropped is still lost.
      return { ...sum, auditWritten: audit.written, auditDropped: audit.dropped + sum.auditDropped };
    },
  });
  try {
    return await startAdminServer(o.listen, probes(o, bound, metrics));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new StartupError(
      ExitCode.BindFailure,
      'admin listen failed',
      `${o.listen.host}:${o.listen.port}: ${why}`,
      {
        cause: err,
      },
    );
  }
}

function probes(o: PrimaryAdminOptions, bound: () => StatsTarget[], metrics: MetricsEndpoint): AdminProbes {
  return {
    draining: o.draining,
    async ready() {
      if (o.draining()) return clusterReadiness(true, []);
      const live = [...o.live.values()];
      const reports = await o.collector.collect(bound());
      const verdicts: WorkerVerdict[] = live.map(({ worker, bound: up }) => ({
        worker: worker.id,
        pid: worker.process.pid,
        verdict: !up ? 'starting' : (reports.get(worker.id)?.ready ?? 'no_reply'),
      }));
      return clusterReadiness(o.draining(), verdicts);
    },
    metrics: () => metrics.render(),
  };
}
