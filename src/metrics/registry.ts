/**
 * `GET /metrics` (issue 14): a per-proxy prom-client `Registry` — nothing global, so several proxies in one
 * process each expose their own. Every value is read lazily at scrape time: request figures from the {@link Tally}
 * the audit observer fills, gauges from stats the components already keep. The hot path never touches prom-client.
 */
import { Counter, Gauge, type Metric, Registry } from 'prom-client';
import { DURATION_BUCKETS_S, type Tally } from './tally.js';

/** Figures read from the components at scrape time (summed over workers in cluster mode). */
export interface ProxyGauges {
  readonly openConnections: number;
  readonly leafCacheSize: number;
  readonly leafCacheHits: number;
  readonly leafCacheMisses: number;
  readonly upstreamSocketsActive: number;
  readonly upstreamSocketsIdle: number;
  readonly secretCacheHits: number;
  readonly secretCacheMisses: number;
  readonly agentRefreshFailures: number;
  readonly auditWritten: number;
  readonly auditDropped: number;
}

/** What the admin listener serves. */
export interface MetricsEndpoint {
  render(): Promise<{ readonly contentType: string; readonly body: string }>;
}

type Labels = Record<string, string | number>;

/** A counter whose value is set at scrape time (prom-client counters only go up by `inc`). */
function counterFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function gaugeFrom(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function labelledCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<[Labels, number]>,
): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, n] of read()) this.inc(labels, n);
    },
  });
}

/**
 * The duration histogram, built from the tally's bucket counts. prom-client's Histogram can only `observe()` one
 * value at a time, so this is a metric object of the shape its Registry formats (`get()` → `{name, help, type,
 * values}`), registered with `registerMetric`.
 */
function durationHistogram(registry: Registry, tally: Tally): void {
  const name = 'clef_proxy_request_duration_seconds';
  const metric = {
    name,
    help: 'Time from request start to its audit event, in seconds, by decision.',
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values: Array<{ labels: Labels; value: number; metricName: string }> = [];
      for (const [decision, s] of tally.durations) {
        let cumulative = 0;
        DURATION_BUCKETS_S.forEach((le, i) => {
          cumulative += s.buckets[i]!;
          values.push({ labels: { decision, le }, value: cumulative, metricName: `${name}_bucket` });
        });
        cumulative += s.buckets[DURATION_BUCKETS_S.length]!;
        values.push({ labels: { decision, le: '+Inf' }, value: cumulative, metricName: `${name}_bucket` });
        values.push({ labels: { decision }, value: s.sum, metricName: `${name}_sum` });
        values.push({ labels: { decision }, value: s.count, metricName: `${name}_count` });
      }
      return { name, help: metric.help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset() {},
  };
  registry.registerMetric(metric as unknown as Metric);
}

/** Build the registry. `gauges` is called once per scrape, before any metric is collected. */
export function createMetrics(opts: {
  readonly tally: Tally;
  readonly version: string;
  readonly gauges: () => ProxyGauges | Promise<ProxyGauges>;
}): MetricsEndpoint {
  const { tally } = opts;
  const registry = new Registry();
  let g: ProxyGauges | undefined;
  const read = (pick: (g: ProxyGauges) => number) => () => (g === undefined ? 0 : pick(g));

  labelledCounter(
    registry,
    'clef_proxy_requests_total',
    'Audited requests, tunnels and refusals by service (capped, rest as "other"), decision and status class.',
    ['service', 'decision', 'status_class'],
    function* () {
      for (const s of tally.requests.values())
        yield [{ service: s.service, decision: s.decision, status_class: s.statusClass }, s.n];
    },
  );
  labelledCounter(registry, 'clef_proxy_denied_total', 'Refusals by reason code.', ['reason'], function* () {
    for (const [reason, n] of tally.denied) yield [{ reason }, n];
  });
  labelledCounter(
    registry,
    'clef_proxy_upstream_errors_total',
    'Upstream failures by code.',
    ['code'],
    function* () {
      for (const [code, n] of tally.upstreamErrors) yield [{ code }, n];
    },
  );
  durationHistogram(registry, tally);
  gaugeFrom(
    registry,
    'clef_proxy_open_connections',
    'Client connections open now.',
    read((x) => x.openConnections),
  );
  gaugeFrom(
    registry,
    'clef_proxy_leaf_cache_size',
    'Leaf certificates cached now.',
    read((x) => x.leafCacheSize),
  );
  counterFrom(
    registry,
    'clef_proxy_leaf_cache_hits_total',
    'Leaf lookups served from the cache.',
    read((x) => x.leafCacheHits),
  );
  counterFrom(
    registry,
    'clef_proxy_leaf_cache_misses_total',
    'Leaf lookups that minted or waited for a mint.',
    read((x) => x.leafCacheMisses),
  );
  new Gauge({
    name: 'clef_proxy_upstream_pool_sockets',
    help: 'Upstream sockets now, by state (active: carrying a request; idle: kept alive for reuse).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.set({ state: 'active' }, g?.upstreamSocketsActive ?? 0);
      this.set({ state: 'idle' }, g?.upstreamSocketsIdle ?? 0);
    },
  });
  counterFrom(
    registry,
    'clef_proxy_secret_cache_hits_total',
    'Secret lookups served from the cache.',
    read((x) => x.secretCacheHits),
  );
  counterFrom(
    registry,
    'clef_proxy_secret_cache_misses_total',
    'Secret lookups that fetched from the agent.',
    read((x) => x.secretCacheMisses),
  );
  counterFrom(
    registry,
    'clef_proxy_agent_refresh_failures_total',
    'Services refreshes that failed or were rejected.',
    read((x) => x.agentRefreshFailures),
  );
  counterFrom(
    registry,
    'clef_proxy_audit_events_written_total',
    'Audit events written by the sink.',
    read((x) => x.auditWritten),
  );
  counterFrom(
    registry,
    'clef_proxy_audit_events_dropped_total',
    'Audit events the sink had to drop.',
    read((x) => x.auditDropped),
  );
  new Gauge({
    name: 'clef_proxy_build_info',
    help: 'Always 1; the version is the label.',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: opts.version }, 1);

  return {
    async render() {
      // Every collect() runs synchronously inside the metrics() call, so two scrapes never mix their figures.
      g = await opts.gauges();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
