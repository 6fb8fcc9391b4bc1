/**
 * Audit events (SPEC §10) from a real in-process proxy: every event kind, every reason reachable on loopback, with
 * each event's exact field set, `host`/`port` null before a target was parsed, request ids `<conn>.<n>`, paths
 * without their query, and `client_aborted` / `upstream_error` for forwarded requests cut short.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceInput } from '../../src/agent/services.js';
import type { AuditEvent, DenyEvent, RequestEvent, TunnelEvent } from '../../src/audit/events.js';
import {
  basicAuth,
  connectThrough,
  connectTo,
  readAll,
  startTestProxy,
  type TestProxy,
} from '../helpers/proxy.js';
import { exchangeRaw, httpsRequestThrough, tlsThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const KEYS = {
  request:
    'request_id method path service auth_type secret_ref status bytes_in bytes_out duration_ms via_upstream_proxy',
  tunnel: 'bytes_in bytes_out duration_ms via_upstream_proxy',
  deny: 'reason',
};

/** The SPEC §10 shape of any event: exact keys per kind (optional ones named), typed values. */
function checkShape(e: AuditEvent): void {
  const keys = Object.keys(e).sort();
  const optional = e.event === 'deny' ? 'status' : 'reason';
  const expected =
    `schema_version ts event conn_id client identity host port decision ${KEYS[e.event]}`.split(' ');
  if (optional in e) expected.push(optional);
  expect(keys).toEqual(expected.sort());
  expect(e.schema_version).toBe(1);
  expect(new Date(e.ts).toISOString()).toBe(e.ts);
  expect(e.conn_id).toMatch(/^c\d+$/);
  expect(e.client).toMatch(/^127\.0\.0\.1:\d+$/);
  expect(e.host === null).toBe(e.port === null);
  if (e.event === 'request') {
    expect(e.request_id).toMatch(new RegExp(`^${e.conn_id}\\.\\d+$`));
    expect(e.path).not.toContain('?');
  }
  if (e.event !== 'deny') {
    expect(e.duration_ms).toBeGreaterThanOrEqual(0);
    expect(Number.isInteger(e.bytes_in) && Number.isInteger(e.bytes_out)).toBe(true);
  }
}

let upstream: TestUpstream;
let proxy: TestProxy;
let U: number;

/** Upstream behaviours by path: `/v1/hang` never answers, `/v1/cut` dies after part of its body. */
function handler(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/v1/hang') return;
  req.resume();
  if (req.url === '/v1/cut') {
    res.writeHead(200, { 'content-length': '100' });
    res.write('0123456789', () => req.socket.destroy());
    return;
  }
  req.on('end', () => {
    const body = JSON.stringify({ url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

beforeAll(async () => {
  upstream = await startUpstream({ handler });
  U = upstream.port;
  const svc = (name: string, host: string, path_prefix: string, auth: ServiceInput['auth']) => ({
    name,
    hosts: [`${host}:${U}`],
    path_prefix,
    auth,
  });
  const headerAuth = {
    type: 'api_key_header',
    header: 'X-Api-Key',
    secret: 'K_HEADER',
    prefix: 'k-',
  } as const;
  const bearer = (secret: string) => ({ type: 'bearer' as const, secret });
  proxy = await startTestProxy({
    services: [
      svc('bearer', 'api.upstream.test', '/v1', bearer('K_BEARER')),
      svc('header', 'api.upstream.test', '/h', headerAuth),
      svc('query', 'api.upstream.test', '/q', { type: 'api_key_query', param: 'key', secret: 'K_QUERY' }),
      svc('amb1', 'other.upstream.test', '/', bearer('K_BEARER')),
      svc('amb2', 'other.upstream.test', '/', bearer('K_BEARER')),
      svc('missing', 'upstream.test', '/missing', bearer('K_NONE')),
      svc('broken', 'upstream.test', '/broken', bearer('K_CRLF')),
    ],
    secrets: { K_BEARER: 'sv-bearer', K_HEADER: 'sv-header', K_QUERY: 'sv-query', K_CRLF: 'a\r\nb' },
    passthroughHosts: [`api.upstream.test:${U}`, `127.0.0.1:${U}`],
  });
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

/** Poll the captured events until one satisfies `pred` (events are written when the work completes). */
async function eventWhere<T extends AuditEvent>(pred: (e: AuditEvent) => boolean, ms = 5_000): Promise<T> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
    const found = proxy.events.find(pred);
    if (found) {
      checkShape(found);
      return found as T;
    }
  }
  throw new Error(`no matching audit event in ${JSON.stringify(proxy.events)}`);
}

const byReq = (method: string, path: string) => (e: AuditEvent) =>
  e.event === 'request' && e.method === method && e.path === path;

const get = (target: string, path: string, headers: Record<string, string> = {}) =>
  httpsRequestThrough(proxy.port, target, { path, headers }, { ca: proxy.proxy.caCertPem });

describe('request events', () => {
  it('inject: one per request on a kept-alive connection, ids <conn>.<n>, path without its query', async () => {
    const host = `api.upstream.test:${U}`;
    const tls = await tlsThrough(proxy.port, host, { ca: proxy.proxy.caCertPem });
    // Two requests pipelined on one connection; the second closes it.
    const first = `GET /v1/items?token=t1 HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    const second = `POST /h/x?y=1 HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`;
    const replies = (await exchangeRaw(tls, first + second)).toString('latin1');
    expect(replies.match(/HTTP\/1\.1 200 /g)).toHaveLength(2);

    const a = await eventWhere<RequestEvent>(byReq('GET', '/v1/items'));
    const b = await eventWhere<RequestEvent>(byReq('POST', '/h/x'));
    expect(b.conn_id).toBe(a.conn_id);
    expect([a.request_id, b.request_id]).toEqual([`${a.conn_id}.1`, `${a.conn_id}.2`]);
    expect(a).toMatchObject({ host: 'api.upstream.test', port: U, service: 'bearer', auth_type: 'bearer' });
    expect(a).toMatchObject({ secret_ref: 'K_BEARER', decision: 'inject', status: 200, bytes_in: 0 });
    expect(a.bytes_out).toBeGreaterThan(0);
    expect(b).toMatchObject({ service: 'header', auth_type: 'api_key_header', secret_ref: 'K_HEADER' });
    expect([b.bytes_in, a.via_upstream_proxy]).toEqual([5, false]);
    expect('reason' in a || 'reason' in b).toBe(false);
  });

  it('inject by query parameter: secret_ref is the key name, path has no query', async () => {
    const res = await get(`api.upstream.test:${U}`, '/q/search?term=x&key=client');
    expect(res.status).toBe(200);
    expect(res.json<{ url: string }>().url).toBe('/q/search?term=x&key=sv-query');
    const e = await eventWhere<RequestEvent>(byReq('GET', '/q/search'));
    expect([e.service, e.auth_type, e.secret_ref, e.decision]).toEqual([
      'query',
      'api_key_query',
      'K_QUERY',
      'inject',
    ]);
  });

  it('forward: a service host that is also passthrough, no path matching', async () => {
    expect((await get(`api.upstream.test:${U}`, '/elsewhere?a=1')).status).toBe(200);
    const e = await eventWhere<RequestEvent>(byReq('GET', '/elsewhere'));
    expect([e.decision, e.service, e.auth_type, e.secret_ref, e.status]).toEqual([
      'forward',
      null,
      null,
      null,
      200,
    ]);
  });

  it.each([
    ['ambiguous_service', 'other.upstream.test', '/amb', {}, 400, null],
    ['service_not_allowed', 'other.upstream.test', '/sna', { 'x-clef-service': 'bearer' }, 403, null],
    ['no_matching_service', 'upstream.test', '/nms', {}, 403, null],
    ['misdirected_request', 'upstream.test', '/mis', { host: 'api.upstream.test' }, 421, null],
    ['credential_unavailable', 'upstream.test', '/missing', {}, 503, 'missing'],
    ['invalid_credential', 'upstream.test', '/broken', {}, 502, 'broken'],
  ] as const)(
    'deny %s: decision deny, reason, status',
    async (code, host, path, headers, status, service) => {
      const withPort = 'host' in headers ? { host: `${headers.host}:${U}` } : headers;
      const res = await get(`${host}:${U}`, path, withPort);
      expect([res.status, res.headers['x-clef-proxy-error']]).toEqual([status, code]);
      const e = await eventWhere<RequestEvent>(byReq('GET', path));
      expect(e).toMatchObject({ decision: 'deny', reason: code, status, service, bytes_in: 0, bytes_out: 0 });
      expect(e.via_upstream_proxy).toBe(false);
    },
  );

  it('a forwarded request the client abandons is audited once as client_aborted, status null', async () => {
    const tls = await tlsThrough(proxy.port, `api.upstream.test:${U}`, { ca: proxy.proxy.caCertPem });
    tls.write(`GET /v1/hang HTTP/1.1\r\nHost: api.upstream.test:${U}\r\n\r\n`);
    for (let i = 0; i < 250 && !upstream.received.some((r) => r.url === '/v1/hang'); i++) await sleep(20);
    tls.destroy();
    const e = await eventWhere<RequestEvent>(byReq('GET', '/v1/hang'));
    expect(e).toMatchObject({ decision: 'inject', reason: 'client_aborted', status: null });
    await sleep(100);
    expect(proxy.events.filter(byReq('GET', '/v1/hang'))).toHaveLength(1);
  });

  it('an upstream that dies mid-body is audited as upstream_error with the status that reached the client', async () => {
    const tls = await tlsThrough(proxy.port, `api.upstream.test:${U}`, { ca: proxy.proxy.caCertPem });
    const raw = await exchangeRaw(tls, `GET /v1/cut HTTP/1.1\r\nHost: api.upstream.test:${U}\r\n\r\n`);
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
    const e = await eventWhere<RequestEvent>(byReq('GET', '/v1/cut'));
    expect(e).toMatchObject({ decision: 'inject', reason: 'upstream_error', status: 200, bytes_out: 10 });
  });

  it('plain http:// to a service host: a request event denied as https_required', async () => {
    const s = await connectTo(proxy.port);
    s.write(
      `GET http://api.upstream.test:${U}/v1/x?k=1 HTTP/1.1\r\nHost: api.upstream.test:${U}\r\nProxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`,
    );
    expect((await readAll(s)).toString('latin1')).toMatch(/^HTTP\/1\.1 403/);
    const e = await eventWhere<RequestEvent>(byReq('GET', '/v1/x'));
    expect(e).toMatchObject({ decision: 'deny', reason: 'https_required', status: 403 });
    expect([e.host, e.port]).toEqual(['api.upstream.test', U]);
  });
});

describe('tunnel and deny events', () => {
  it('a passthrough tunnel: one tunnel event with byte counts', async () => {
    const { socket, status } = await connectThrough(proxy.port, `127.0.0.1:${U}`);
    expect(status).toBe(200);
    socket.end('opaque bytes');
    await readAll(socket);
    const e = await eventWhere<TunnelEvent>((x) => x.event === 'tunnel');
    expect([e.host, e.port, e.bytes_in, e.via_upstream_proxy]).toEqual(['127.0.0.1', U, 12, false]);
  });

  const pad = `X-Pad: ${'p'.repeat(20_000)}\r\n`;
  it.each([
    ['proxy_auth_required', 'api.upstream.test:443', basicAuth('bad'), 407, 'api.upstream.test'],
    ['host_not_allowed', 'nowhere.test:443', basicAuth(), 403, 'nowhere.test'],
    ['bad_request', 'nowhere.test', basicAuth(), 400, null],
    ['headers_too_large', 'a.test:443', basicAuth(), 431, null],
  ] as const)(
    'deny %s: the status sent, host null before a target was parsed',
    async (code, target, auth, status, host) => {
      const s = await connectTo(proxy.port);
      const head = `CONNECT ${target} HTTP/1.1\r\nProxy-Authorization: ${auth}\r\n${code === 'headers_too_large' ? pad : ''}\r\n`;
      const reply = (await exchangeRaw(s, head)).toString('latin1');
      expect(reply).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      const e = await eventWhere<DenyEvent>((x) => x.event === 'deny' && x.reason === code);
      expect(e).toMatchObject({ decision: 'deny', status, host, port: host === null ? null : 443 });
    },
  );

  it.each([
    ['sni_mismatch', 'tls'],
    ['not_tls', 'plain'],
  ] as const)('deny %s after the 200: connection closed, no status', async (code, how) => {
    const { socket, status } = await connectThrough(proxy.port, `api.upstream.test:${U}`);
    expect(status).toBe(200);
    if (how === 'tls') {
      const tls = tlsConnect({ socket, servername: 'other.upstream.test', ca: proxy.proxy.caCertPem });
      await new Promise((r) => tls.once('close', r).once('error', () => {}));
    } else {
      await exchangeRaw(socket, 'GET / HTTP/1.1\r\n\r\n');
    }
    const e = await eventWhere<DenyEvent>((x) => x.event === 'deny' && x.reason === code);
    expect(e).toMatchObject({ host: 'api.upstream.test', port: U });
    expect('status' in e).toBe(false);
  });
});

describe('limits (a second proxy: 1 connection, 300 ms header and handshake timeouts)', () => {
  it('overloaded, header_timeout and handshake_timeout are deny events', async () => {
    const tight = await startTestProxy({
      services: [{ name: 's', hosts: ['api.upstream.test:443'], auth: { type: 'bearer', secret: 'K' } }],
      secrets: { K: 'v' },
      limits: { maxConnections: 1, headerTimeoutMs: 300, handshakeTimeoutMs: 300 },
    });
    try {
      const silent = await connectTo(tight.port);
      const extra = await connectTo(tight.port);
      expect((await readAll(extra)).toString('latin1')).toMatch(/^HTTP\/1\.1 503 [\s\S]*overloaded/);
      await readAll(silent);
      const { socket, status } = await connectThrough(tight.port, 'api.upstream.test:443');
      expect(status).toBe(200);
      await readAll(socket);
      const events = await tight.waitForEvents(3);
      for (const e of events) checkShape(e);
      const [over, header, handshake] = events as [DenyEvent, DenyEvent, DenyEvent];
      expect(over).toMatchObject({ reason: 'overloaded', status: 503, host: null, port: null });
      expect(header).toMatchObject({ reason: 'header_timeout', host: null, port: null });
      expect(handshake).toMatchObject({ reason: 'handshake_timeout', host: 'api.upstream.test', port: 443 });
      expect(['status' in header, 'status' in handshake]).toEqual([false, false]);
    } finally {
      await tight.close();
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
