/**
 * The primary's view of its workers for `/readyz` and `/metrics` (issue 14): a stats report is validated field by
 * field before its numbers are summed, the collector waits for every worker but gives up on a silent one, and the
 * group is ready only when every live worker is.
 */
import { describe, expect, it } from 'vitest';
import { clusterReadiness } from '../../../src/admin/readiness.js';
import { isStatsReport, type StatsReport } from '../../../src/cluster/messages.js';
import { createStatsCollector } from '../../../src/cluster/stats.js';
import { sumGauges } from '../../../src/metrics/gauges.js';
import type { ProxyGauges } from '../../../src/metrics/registry.js';

const gauges = (n: number): ProxyGauges => ({
  openConnections: n,
  leafCacheSize: n,
  leafCacheHits: n,
  leafCacheMisses: n,
  upstreamSocketsActive: n,
  upstreamSocketsIdle: n,
  secretCacheHits: n,
  secretCacheMisses: n,
  agentRefreshFailures: n,
  auditWritten: n,
  auditDropped: n,
});
const report = (id: number, n = 1): StatsReport => ({
  type: 'clef-stats',
  id,
  ready: { ready: true },
  gauges: gauges(n),
});

describe('isStatsReport', () => {
  it('accepts a well-formed report, ready or not', () => {
    expect(isStatsReport(report(1))).toBe(true);
    const stale = { ...report(2), ready: { ready: false, reason: 'agent_stale', detail: 'x' } };
    expect(isStatsReport(stale)).toBe(true);
  });

  it.each([
    ['another type', { ...report(1), type: 'clef-hello' }],
    ['a non-integer id', { ...report(1), id: '1' }],
    ['no verdict', { ...report(1), ready: null }],
    ['a verdict without a reason', { ...report(1), ready: { ready: false } }],
    ['a verdict that is neither', { ...report(1), ready: { ready: 'yes' } }],
    ['a missing figure', { ...report(1), gauges: { ...gauges(1), openConnections: undefined } }],
    ['a negative figure', { ...report(1), gauges: { ...gauges(1), leafCacheHits: -1 } }],
    ['a NaN figure', { ...report(1), gauges: { ...gauges(1), auditDropped: Number.NaN } }],
    ['a string figure', { ...report(1), gauges: { ...gauges(1), leafCacheSize: '3' } }],
  ])('refuses %s', (_name, m) => {
    expect(isStatsReport(m)).toBe(false);
  });
});

describe('createStatsCollector', () => {
  it('resolves once every worker answered its own request id', async () => {
    const c = createStatsCollector(60_000);
    const sent: Array<[number, number]> = [];
    const target = (id: number) => ({ id, send: (m: { id: number }) => void sent.push([id, m.id]) });
    const got = c.collect([target(1), target(2)]);
    const reqId = sent[0]![1];
    c.receive(1, report(reqId + 1)); // a stale or foreign id is ignored
    c.receive(1, report(reqId, 3));
    c.receive(2, report(reqId, 4));
    const r = await got;
    expect(sum(r)).toBe(7);
  });

  it('gives up on a silent worker after the timeout and reports it as undefined', async () => {
    const c = createStatsCollector(50);
    let reqId = 0;
    const got = c.collect([
      {
        id: 1,
        send: (m) => {
          reqId = m.id;
        },
      },
      { id: 2, send: () => {} },
    ]);
    c.receive(1, report(reqId));
    const r = await got;
    expect(r.get(1)).toBeDefined();
    expect(r.has(2)).toBe(true);
    expect(r.get(2)).toBeUndefined();
  });

  it('resolves at once with no workers, and survives a send that throws', async () => {
    const c = createStatsCollector(50);
    expect((await c.collect([])).size).toBe(0);
    const r = await c.collect([
      {
        id: 1,
        send: () => {
          throw new Error('channel closed');
        },
      },
    ]);
    expect(r.get(1)).toBeUndefined();
  });
});

function sum(r: Map<number, StatsReport | undefined>): number {
  return sumGauges([...r.values()].flatMap((x) => (x ? [x.gauges] : []))).openConnections;
}

describe('clusterReadiness', () => {
  const ok = { ready: true } as const;
  it('is ready only when every live worker is', () => {
    expect(
      clusterReadiness(false, [
        { worker: 1, pid: 10, verdict: ok },
        { worker: 2, pid: 11, verdict: ok },
      ]),
    ).toEqual({ ready: true });
  });

  it('names each worker that is not ready, and why', () => {
    const r = clusterReadiness(false, [
      { worker: 1, pid: 10, verdict: ok },
      { worker: 2, pid: 11, verdict: { ready: false, reason: 'agent_stale', detail: 'last answered never' } },
      { worker: 3, pid: 12, verdict: 'starting' },
      { worker: 4, pid: 13, verdict: 'no_reply' },
    ]);
    expect(r).toMatchObject({ ready: false, reason: 'workers_not_ready' });
    if (r.ready) throw new Error('unreachable');
    expect(r.detail).toBe(
      '3 of 4 workers not ready (worker 2: agent_stale; worker 3: starting; worker 4: no_reply)',
    );
    expect(r.workers?.map((w) => [w.worker, w.pid, w.reason])).toEqual([
      [2, 11, 'agent_stale'],
      [3, 12, 'starting'],
      [4, 13, 'no_reply'],
    ]);
  });

  it('is not ready with no worker, and draining wins over everything', () => {
    expect(clusterReadiness(false, [])).toMatchObject({ ready: false, reason: 'workers_not_ready' });
    expect(clusterReadiness(true, [{ worker: 1, pid: 1, verdict: ok }])).toMatchObject({
      ready: false,
      reason: 'draining',
    });
  });
});
