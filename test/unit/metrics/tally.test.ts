/** The metrics tally (issue 14): service labels capped with the rest folded into `other`, buckets cumulative. */
import { describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { createTally, DURATION_BUCKETS_S, MAX_SERVICE_LABELS } from '../../../src/metrics/tally.js';

function request(service: string | null, durationMs: number, status: number | null = 200): RequestEvent {
  return {
    schema_version: 1,
    ts: '2026-01-01T00:00:00.000Z',
    conn_id: 'c1',
    client: '127.0.0.1:1',
    identity: null,
    host: 'h',
    port: 443,
    event: 'request',
    request_id: 'c1.1',
    method: 'GET',
    path: '/secret/path',
    service,
    auth_type: null,
    secret_ref: null,
    decision: 'inject',
    status,
    bytes_in: 0,
    bytes_out: 0,
    duration_ms: durationMs,
    via_upstream_proxy: false,
  };
}

describe('tally', () => {
  it(`keeps ${MAX_SERVICE_LABELS} service names and folds the rest into "other"`, () => {
    const t = createTally();
    for (let i = 0; i < MAX_SERVICE_LABELS + 50; i++) t.observe(request(`svc${i}`, 1));
    t.observe(request('svc0', 1));
    const services = new Set([...t.requests.values()].map((s) => s.service));
    expect(services.size).toBe(MAX_SERVICE_LABELS + 1);
    expect(services.has('other')).toBe(true);
    const other = [...t.requests.values()].find((s) => s.service === 'other');
    expect(other?.n).toBe(50);
    expect(t.events).toBe(MAX_SERVICE_LABELS + 51);
  });

  it('files durations into the first bucket that holds them and status into its class', () => {
    const t = createTally();
    t.observe(request('a', 1)); // 0.001 s: the first bucket (le is inclusive)
    t.observe(request('a', 120_000, null)); // past the last bound: +Inf
    const d = t.durations.get('inject')!;
    expect(d.buckets[0]).toBe(1);
    expect(d.buckets[DURATION_BUCKETS_S.length]).toBe(1);
    expect(d.count).toBe(2);
    expect([...t.requests.values()].map((s) => s.statusClass).sort()).toEqual(['2xx', 'none']);
  });
});
