/**
 * The OTLP audit sink against a local receiver that validates every OTLP/HTTP JSON export strictly
 * (test/helpers/otlp-validate.ts) — no OpenTelemetry Collector can be installed here (docs/audit.md). Checks the
 * request (POST {endpoint}/v1/logs, JSON, headers), each record (time from `ts`, body = the audit line,
 * attributes = its fields, severity), the OTLP retry rules and partial success.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/events.js';
import { createOtlpSink } from '../../src/audit/otlp-sink.js';
import { serializeEvent } from '../../src/audit/serialize.js';
import type { OtlpAuditSettings } from '../../src/config/types.js';
import { type AuditReceiver, startAuditReceiver } from '../helpers/audit-receiver.js';
import { validateOtlpLogs } from '../helpers/otlp-validate.js';
import { FIXTURE_CA_PEM } from '../helpers/upstream.js';
import { denyEvent, requestEvent, TS } from '../unit/audit/sample-events.js';

const receivers: AuditReceiver[] = [];
const sinks: Array<{ abort(): void }> = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) s.abort();
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(scheme: 'https' | 'http' = 'https') {
  const r = await startAuditReceiver({ scheme, path: '', validate: (body) => void validateOtlpLogs(body) });
  receivers.push(r);
  return r;
}

function sink(endpoint: string, settings: Partial<OtlpAuditSettings> = {}, errors: string[] = []) {
  const s = createOtlpSink(
    { sink: 'otlp', endpoint, headers: {}, batchMax: 10, flushMs: 20, queueMax: 1000, ...settings },
    { extraCa: [FIXTURE_CA_PEM], retryBaseMs: 20, onError: (e) => errors.push(e.message) },
  );
  sinks.push(s);
  return s;
}

describe('otlp sink', () => {
  it('exports valid OTLP/JSON log records to {endpoint}/v1/logs over verified TLS', async () => {
    const r = await receiver();
    const s = sink(r.url, { headers: { 'x-otlp-key': 'k-1' } });
    const sent: AuditEvent[] = [requestEvent(1), denyEvent(2), requestEvent(3, { duration_ms: 7 })];
    for (const e of sent) s.write(e);
    await s.flush();
    expect(s.stats()).toEqual({ written: 3, dropped: 0, queued: 0 });

    const [batch] = r.batches;
    expect(batch).toMatchObject({ url: '/v1/logs', accepted: true });
    expect(batch!.headers).toMatchObject({ 'content-type': 'application/json', 'x-otlp-key': 'k-1' });
    const records = validateOtlpLogs(batch!.body);
    expect(records.map((x) => x.body)).toEqual(sent.map((e) => serializeEvent(e)!.trimEnd()));

    const [req, deny] = records as [(typeof records)[0], (typeof records)[0]];
    expect(req.timeUnixNano).toBe(BigInt(Date.parse(TS)) * 1_000_000n);
    expect(req.severityNumber).toBe(9);
    expect(deny.severityNumber).toBe(13);
    expect(req.resource.get('service.name')).toEqual({ stringValue: 'clef-proxy' });
    expect(req.scope).toEqual({ name: 'clef-proxy.audit', version: '1' });
    expect(Object.fromEntries(req.attributes)).toMatchObject({
      schema_version: { intValue: '1' },
      event: { stringValue: 'request' },
      decision: { stringValue: 'inject' },
      port: { intValue: '443' },
      duration_ms: { doubleValue: 12.3 },
      via_upstream_proxy: { boolValue: false },
      secret_ref: { stringValue: 'GITHUB_TOKEN' },
    });
    // null fields (the deny's host and port) are left out; nothing but the event's own fields appears.
    expect(deny.attributes.has('host')).toBe(false);
    expect(deny.attributes.get('reason')).toBeDefined();
    expect([...req.attributes.keys()].sort()).toEqual(Object.keys(JSON.parse(req.body)).sort());
  });

  it('retries 503 and 429 (OTLP retryable), then delivers exactly once', async () => {
    const r = await receiver('http'); // plain http: allowed to a loopback collector
    r.script({ status: 503 }, { reset: true }, { status: 429, retryAfter: '0' });
    const s = sink(r.url.replace(/\/$/, ''));
    for (let i = 0; i < 5; i++) s.write(requestEvent(i));
    await s.flush();
    expect(s.stats()).toEqual({ written: 5, dropped: 0, queued: 0 });
    expect(r.accepted()).toHaveLength(1);
    expect(validateOtlpLogs(r.accepted()[0]!)).toHaveLength(5);
  });

  it('counts the records a 200 with partial success rejected as dropped', async () => {
    const r = await receiver();
    r.script({ status: 200, body: '{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"x"}}' });
    const errors: string[] = [];
    const s = sink(r.url, {}, errors);
    for (let i = 0; i < 5; i++) s.write(requestEvent(i));
    await s.flush();
    expect(s.stats()).toEqual({ written: 3, dropped: 2, queued: 0 });
    expect(errors.some((m) => m.includes('rejected 2 of 5'))).toBe(true);
  });

  it('drops a batch on a non-retryable status (500, 400), counted and reported', async () => {
    const r = await receiver();
    r.script({ status: 500 }, { status: 400 });
    const errors: string[] = [];
    const s = sink(r.url, { batchMax: 2 }, errors);
    for (let i = 0; i < 4; i++) s.write(requestEvent(i));
    await s.flush();
    expect(s.stats()).toEqual({ written: 0, dropped: 4, queued: 0 });
    expect(errors.filter((m) => m.includes('refused the batch'))).toHaveLength(2);
  });

  it('refuses a collector whose certificate is not trusted', async () => {
    const r = await startAuditReceiver({ cert: 'untrusted', path: '' });
    receivers.push(r);
    const errors: string[] = [];
    const s = sink(r.url, {}, errors);
    s.write(requestEvent(1));
    void s.flush();
    while (errors.length === 0) await new Promise((res) => setTimeout(res, 10));
    expect(r.batches).toHaveLength(0);
    expect(errors[0]).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });
});
