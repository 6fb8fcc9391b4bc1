/**
 * `GET /metrics` on the admin listener (issue 14): a scrape parsed with a strict Prometheus text parser, and each
 * counter moved by exactly what the requests did; no label value carries a path, query, token or secret.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageVersion } from '../../src/metrics/build-info.js';
import { type PromScrape, parsePromText } from '../helpers/prom-text.js';
import {
  basicAuth,
  connectThrough,
  startTestProxy,
  type TestProxy,
  WORKLOAD_TOKEN,
} from '../helpers/proxy.js';
import { adminGet } from '../helpers/serve-stack.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const SECRET = 'metrics-secret-value-9f2c';
let up: TestUpstream;
let px: TestProxy;
let target: string;
let downTarget: string;

/** A port nobody listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

beforeAll(async () => {
  up = await startUpstream();
  target = `api.upstream.test:${up.port}`;
  downTarget = `down.upstream.test:${await closedPort()}`;
  px = await startTestProxy({
    services: [
      { name: 'echo', hosts: [target], auth: { type: 'bearer', secret: 'K' } },
      { name: 'down', hosts: [downTarget], auth: { type: 'bearer', secret: 'K' } },
    ],
    secrets: { K: SECRET },
    admin: { listen: '127.0.0.1:0' },
  });
});
afterAll(async () => {
  await px?.close();
  await up?.close();
});

async function scrape(): Promise<{ text: string; prom: PromScrape }> {
  const res = await adminGet(px.proxy.adminPort!, '/metrics');
  expect(res.status).toBe(200);
  expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
  return { text: res.body, prom: parsePromText(res.body) };
}

describe('/metrics', () => {
  it('moves each counter by exactly what the requests did, with no path, query, token or secret in it', async () => {
    const before = (await scrape()).prom;
    const ca = px.proxy.caCertPem;
    const start = px.events.length;
    for (let i = 0; i < 3; i++) {
      const res = await httpsRequestThrough(px.port, target, { path: `/v1/items/${i}?token=q${i}` }, { ca });
      expect(res.status).toBe(200);
    }
    const refused = await connectThrough(px.port, 'nope.upstream.test:443');
    expect(refused.status).toBe(403);
    refused.socket.destroy();
    const unauth = await connectThrough(px.port, target, basicAuth('wrong-token'));
    expect(unauth.status).toBe(407);
    unauth.socket.destroy();
    const failed = await httpsRequestThrough(px.port, downTarget, { path: '/x?y=1' }, { ca });
    expect(failed.status).toBe(502);
    await px.waitForEvents(start + 6);

    const { text, prom: after } = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    const req = (service: string, decision: string, status_class: string) =>
      delta('clef_proxy_requests_total', { service, decision, status_class });
    expect(req('echo', 'inject', '2xx')).toBe(3);
    expect(req('down', 'inject', '5xx')).toBe(1);
    expect(req('', 'deny', '4xx')).toBe(2);
    expect(delta('clef_proxy_denied_total', { reason: 'host_not_allowed' })).toBe(1);
    expect(delta('clef_proxy_denied_total', { reason: 'proxy_auth_required' })).toBe(1);
    expect(delta('clef_proxy_upstream_errors_total', { code: 'upstream_error' })).toBe(1);
    expect(delta('clef_proxy_request_duration_seconds_count', { decision: 'inject' })).toBe(4);
    expect(delta('clef_proxy_request_duration_seconds_bucket', { decision: 'inject', le: '+Inf' })).toBe(4);
    // Four intercepted connections: one leaf lookup each (two hosts, so at least two misses).
    const leafLookups =
      delta('clef_proxy_leaf_cache_hits_total') + delta('clef_proxy_leaf_cache_misses_total');
    expect(leafLookups).toBe(4);
    expect(after.value('clef_proxy_leaf_cache_size')).toBe(2);
    expect(delta('clef_proxy_audit_events_written_total')).toBe(6);
    expect(after.value('clef_proxy_audit_events_dropped_total')).toBe(0);
    expect(after.value('clef_proxy_build_info', { version: packageVersion() })).toBe(1);
    expect(after.types.get('clef_proxy_request_duration_seconds')).toBe('histogram');
    expect(after.types.get('clef_proxy_requests_total')).toBe('counter');
    expect(after.types.get('clef_proxy_open_connections')).toBe('gauge');
    expect(after.types.get('clef_proxy_upstream_pool_sockets')).toBe('gauge');

    for (const s of after.samples) {
      for (const v of Object.values(s.labels)) expect(v).not.toMatch(/[/?=]/);
    }
    for (const leak of [SECRET, WORKLOAD_TOKEN, 'wrong-token', '/v1/items', 'token=q', 'y=1']) {
      expect(text).not.toContain(leak);
    }
  });

  it('serves the same registry twice and only GET/HEAD', async () => {
    const a = (await scrape()).prom;
    const b = (await scrape()).prom;
    expect(
      b.value('clef_proxy_requests_total', { service: 'echo', decision: 'inject', status_class: '2xx' }),
    ).toBe(
      a.value('clef_proxy_requests_total', { service: 'echo', decision: 'inject', status_class: '2xx' }),
    );
  });
});
