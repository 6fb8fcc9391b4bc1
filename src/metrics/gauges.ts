/**
 * The scrape-time figures of one proxy (issue 14), read from what each component already counts: nothing here
 * runs per request.
 */
import type { CountingAuditSink } from '../audit/create-sink.js';
import type { AuditSink } from '../audit/sink.js';
import type { ProxyContext } from '../context.js';
import type { ProxyGauges } from './registry.js';
import type { Tally } from './tally.js';

/** Read the gauges of the proxy whose current context `ctx()` returns. */
export function readGauges(ctx: ProxyContext, sink: AuditSink, tally?: Tally): ProxyGauges {
  const sockets = ctx.pool.sockets();
  const src = ctx.source.stats?.();
  const audit = (sink as Partial<CountingAuditSink>).stats?.();
  return {
    openConnections: ctx.tracker.size,
    leafCacheSize: ctx.leafCache.size,
    leafCacheHits: ctx.leafCache.hits,
    leafCacheMisses: ctx.leafCache.misses,
    upstreamSocketsActive: sockets.active,
    upstreamSocketsIdle: sockets.idle,
    secretCacheHits: src?.secretCacheHits ?? 0,
    secretCacheMisses: src?.secretCacheMisses ?? 0,
    agentRefreshFailures: src?.refreshFailures ?? 0,
    // A sink without counters (a library callback) is taken to have written what it was given.
    auditWritten: audit ? audit.written : (tally?.events ?? 0),
    auditDropped: audit ? audit.dropped : 0,
  };
}

const ZERO: ProxyGauges = {
  openConnections: 0,
  leafCacheSize: 0,
  leafCacheHits: 0,
  leafCacheMisses: 0,
  upstreamSocketsActive: 0,
  upstreamSocketsIdle: 0,
  secretCacheHits: 0,
  secretCacheMisses: 0,
  agentRefreshFailures: 0,
  auditWritten: 0,
  auditDropped: 0,
};

/** Sum figures from several processes (cluster mode: the primary adds up its workers); none sums to zeros. */
export function sumGauges(all: readonly ProxyGauges[]): ProxyGauges {
  const out: Record<string, number> = { ...ZERO };
  for (const g of all) for (const [k, v] of Object.entries(g)) out[k] = (out[k] ?? 0) + v;
  return out as unknown as ProxyGauges;
}
