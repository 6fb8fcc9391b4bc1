/**
 * The webhook audit sink against a local HTTPS receiver on real sockets (docs/audit.md): NDJSON batches over
 * verified TLS, retries through 500s, resets and delays until every event arrives exactly once and in order,
 * a bounded queue that drops the oldest, permanent refusals, and a receiver whose certificate is not trusted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/events.js';
import { serializeEvent } from '../../src/audit/serialize.js';
import { createWebhookSink, type WebhookSinkOptions } from '../../src/audit/webhook-sink.js';
import type { WebhookAuditSettings } from '../../src/config/types.js';
import { type AuditReceiver, startAuditReceiver } from '../helpers/audit-receiver.js';
import { FIXTURE_CA_PEM } from '../helpers/upstream.js';
import { denyEvent, requestEvent } from '../unit/audit/sample-events.js';

const receivers: AuditReceiver[] = [];
const sinks: Array<{ abort(): void }> = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) s.abort();
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(opts: Parameters<typeof startAuditReceiver>[0] = {}) {
  const r = await startAuditReceiver(opts);
  receivers.push(r);
  return r;
}

function sink(
  url: string,
  settings: Partial<WebhookAuditSettings> = {},
  opts: WebhookSinkOptions = {},
): ReturnType<typeof createWebhookSink> {
  const s = createWebhookSink(
    { sink: 'webhook', url, headers: {}, batchMax: 10, flushMs: 20, queueMax: 1000, ...settings },
    { extraCa: [FIXTURE_CA_PEM], retryBaseMs: 20, ...opts },
  );
  sinks.push(s);
  return s;
}

const events = (n: number, from = 0): AuditEvent[] =>
  Array.from({ length: n }, (_, i) => (i % 2 ? denyEvent(from + i) : requestEvent(from + i)));
const lines = (bodies: Buffer[]) =>
  bodies.flatMap((b) =>
    b
      .toString()
      .split('\n')
      .filter((l) => l !== ''),
  );
const connIds = (bodies: Buffer[]) => lines(bodies).map((l) => (JSON.parse(l) as AuditEvent).conn_id);

describe('webhook sink', () => {
  it('survives 500s, a reset and a delay: every event arrives exactly once, in order, as NDJSON', async () => {
    const r = await receiver();
    r.script({ status: 500 }, { reset: true }, { status: 503, retryAfter: '0' }, { delayMs: 300 });
    const errors: string[] = [];
    const s = sink(
      r.url,
      { headers: { Authorization: 'Splunk tok-123', 'X-Tenant': 'blue' } },
      { onError: (e) => errors.push(e.message) },
    );
    const sent = events(25);
    for (const e of sent) s.write(e);
    await s.flush();

    expect(s.stats()).toEqual({ written: 25, dropped: 0, queued: 0 });
    const bodies = r.accepted();
    expect(bodies).toHaveLength(3); // 10 + 10 + 5
    // NDJSON: each body is whole lines, each line exactly the serialized event, in write order.
    for (const b of bodies) expect(b.toString().endsWith('\n')).toBe(true);
    expect(lines(bodies)).toEqual(sent.map((e) => serializeEvent(e)!.trimEnd()));
    // The first batch was sent four times (500, reset, 503, delayed 200) under one idempotency key.
    const first = r.batches.slice(0, 4);
    expect(new Set(first.map((b) => b.headers['idempotency-key'])).size).toBe(1);
    expect(first.map((b) => b.body.toString())).toEqual(Array(4).fill(bodies[0]!.toString()));
    for (const b of r.batches) {
      expect(b.headers).toMatchObject({
        authorization: 'Splunk tok-123',
        'x-tenant': 'blue',
        'content-type': 'application/x-ndjson',
      });
    }
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(errors.join('\n')).not.toContain('tok-123');
    expect(errors.join('\n')).not.toContain('/ingest');
  });

  it('a full queue drops the OLDEST events, counts them and reports once; write() never waits', async () => {
    const r = await receiver();
    let release = () => {};
    r.script({ hang: new Promise<void>((res) => (release = res)) });
    const errors: string[] = [];
    const s = sink(r.url, { batchMax: 2, queueMax: 5 }, { onError: (e) => errors.push(e.message) });
    s.write(requestEvent(0));
    void s.flush(); // settles only once the receiver answers; here it just starts the send
    await waitFor(() => r.arrived === 1);
    // While batch [0] hangs, 10 more arrive: the queue keeps the newest 5.
    for (const e of events(10, 1)) s.write(e);
    expect(s.stats()).toEqual({ written: 0, dropped: 5, queued: 6 });
    expect(errors.filter((m) => m.includes('queue full'))).toHaveLength(1);
    release();
    await s.flush();
    expect(connIds(r.accepted())).toEqual([0, 6, 7, 8, 9, 10].map((i) => `c${String(i).padStart(5, '0')}`));
    expect(s.stats()).toEqual({ written: 6, dropped: 5, queued: 0 });
  });

  it('a 4xx other than 408/429 drops that batch (counted) and carries on with the next', async () => {
    const r = await receiver();
    r.script({ status: 400 }, { status: 429 });
    const errors: string[] = [];
    const s = sink(r.url, { batchMax: 2 }, { onError: (e) => errors.push(e.message) });
    for (const e of events(4)) s.write(e);
    await s.flush();
    expect(s.stats()).toEqual({ written: 2, dropped: 2, queued: 0 });
    expect(connIds(r.accepted())).toEqual(['c00002', 'c00003']);
    expect(errors.some((m) => m.includes('HTTP 400') && m.includes('2 events dropped'))).toBe(true);
  });

  it('refuses a receiver whose certificate is not trusted: nothing is sent, the events stay queued', async () => {
    const r = await receiver({ cert: 'untrusted' });
    const errors: string[] = [];
    const s = sink(r.url, {}, { onError: (e) => errors.push(e.message) });
    for (const e of events(3)) s.write(e);
    void s.flush();
    await waitFor(() => errors.length >= 2);
    expect(r.batches).toHaveLength(0);
    expect(errors[0]).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
    s.abort();
    expect(s.stats()).toEqual({ written: 0, dropped: 0, queued: 3 });
  });

  it('stays verified with NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment', async () => {
    const r = await receiver({ cert: 'untrusted' });
    const errors: string[] = [];
    const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      const s = sink(r.url, {}, { onError: (e) => errors.push(e.message) });
      s.write(requestEvent(1));
      void s.flush();
      await waitFor(() => errors.length >= 1);
    } finally {
      if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
    }
    expect(r.batches).toHaveLength(0);
    expect(errors[0]).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });

  it('is refused without the extra root too (no upstream_ca_file: default roots only)', async () => {
    const r = await receiver();
    const errors: string[] = [];
    const s = sink(r.url, {}, { extraCa: [], onError: (e) => errors.push(e.message) });
    s.write(requestEvent(1));
    void s.flush();
    await waitFor(() => errors.length >= 1);
    expect(r.batches).toHaveLength(0);
  });

  it('sends a partial batch after flush_ms without anyone flushing', async () => {
    const r = await receiver();
    const s = sink(r.url, { batchMax: 100, flushMs: 50 });
    for (const e of events(3)) s.write(e);
    await r.waitAccepted(1);
    expect(lines(r.accepted())).toHaveLength(3);
    await s.close();
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
