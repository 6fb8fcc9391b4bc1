/**
 * Invariant: secrets, tokens and the client's credential headers never appear in logs, audit events or proxy-made
 * error bodies (SPEC §2 "never logged", §6 "messages never contain secrets or tokens", §10 "Never in the log").
 * This file drives intercepted requests through success and every per-request failure path it can trigger, with
 * a pino logger at `trace` writing into memory, then searches everything the proxy produced. The front door's
 * paths are in no-leak-front-door.test.ts; a spawned `serve` is searched in serve-process.test.ts.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { basicAuth, startTestProxy, type TestProxy, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { exchangeRaw, httpsRequestThrough, tlsThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const SECRETS = {
  B: 'leak-bearer-9f1d7c',
  H: 'leak-header-40ab2e',
  Q: 'leak-query-c7e512',
  CRLF: 'leak-crlf-start\r\nX-Evil: leak-crlf-tail-8d2e',
};
const CLIENT = {
  auth: 'Bearer leak-client-auth-0b9c',
  cookie: 'session=leak-client-cookie-77e1',
  apiKey: 'leak-client-apikey-51f0',
  query: 'token=leak-client-query-2ac4',
};
const NEEDLES = [
  ...Object.values(SECRETS),
  'leak-crlf-start',
  'leak-crlf-tail-8d2e',
  ...Object.values(CLIENT),
  'leak-client-auth-0b9c',
  'leak-client-cookie-77e1',
  'leak-client-query-2ac4',
  WORKLOAD_TOKEN,
  basicAuth().slice('Basic '.length),
];

let logText = '';
const proxyMade: string[] = [];
let good: TestUpstream;
let bad: TestUpstream;
let proxy: TestProxy;
const t = { api: '', hdr: '', qry: '', crlf: '', missing: '', tls: '', closed: '', amb: '' };

beforeAll(async () => {
  good = await startUpstream({
    handler: (req, res) => {
      if (req.url?.startsWith('/hang')) return; // no response head: upstream_timeout
      if (req.url?.startsWith('/reset')) {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        setTimeout(() => req.socket.destroy(), 10);
        return;
      }
      req.resume();
      req.on('end', () => res.end('ok')); // never echoes the request
    },
  });
  bad = await startUpstream({ cert: 'untrusted' });
  const closed = await startUpstream();
  const closedPort = closed.port;
  await closed.close();
  const p = good.port;
  Object.assign(t, {
    api: `api.upstream.test:${p}`,
    hdr: `other.upstream.test:${p}`,
    qry: `upstream.test:${p}`,
    crlf: `crlf.upstream.test:${p}`,
    missing: `missing.upstream.test:${p}`,
    tls: `api.upstream.test:${bad.port}`,
    closed: `api.upstream.test:${closedPort}`,
    amb: `amb.upstream.test:${p}`,
  });
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logText += chunk.toString();
      done();
    },
  });
  const bearer = (secret: string) => ({ type: 'bearer' as const, secret });
  proxy = await startTestProxy({
    logger: createLogger('trace', sink),
    limits: { upstreamResponseTimeoutMs: 1500, maxHeaderBytes: 4096 },
    services: [
      { name: 'api', hosts: [t.api, t.tls, t.closed], auth: bearer('B') },
      {
        name: 'hdr',
        hosts: [t.hdr],
        path_prefix: '/h',
        auth: { type: 'api_key_header', header: 'X-Api-Key', secret: 'H' },
      },
      { name: 'qry', hosts: [t.qry], auth: { type: 'api_key_query', param: 'token', secret: 'Q' } },
      { name: 'crlf', hosts: [t.crlf], auth: bearer('CRLF') },
      { name: 'missing', hosts: [t.missing], auth: bearer('NOT_DEFINED') },
      { name: 'amb1', hosts: [t.amb], auth: bearer('B') },
      { name: 'amb2', hosts: [t.amb], auth: bearer('B') },
    ],
    secrets: SECRETS,
  });
});
afterAll(async () => {
  await proxy?.close();
  await good?.close();
  await bad?.close();
});

const CLIENT_HEADERS = { authorization: CLIENT.auth, cookie: CLIENT.cookie, 'x-api-key': CLIENT.apiKey };

/** One request with the client's own credentials on it; proxy-made answers are kept for the search. */
async function send(target: string, path: string, extra: Record<string, string> = {}): Promise<number> {
  const res = await httpsRequestThrough(
    proxy.port,
    target,
    { method: 'POST', path, headers: { ...CLIENT_HEADERS, ...extra }, body: 'body' },
    { ca: proxy.proxy.caCertPem },
  ).catch(() => undefined);
  if (res === undefined) return 0;
  if (res.headers['x-clef-proxy-error'] !== undefined) {
    proxyMade.push(JSON.stringify(res.headers), res.body.toString('latin1'));
  }
  return res.status;
}

/** Raw bytes inside a fresh intercepted session; the whole answer is proxy-made. */
async function sendRaw(target: string, bytes: string): Promise<string> {
  const tls = await tlsThrough(proxy.port, target, { ca: proxy.proxy.caCertPem });
  const answer = (await exchangeRaw(tls, bytes)).toString('latin1');
  proxyMade.push(answer);
  return answer;
}

describe('nothing secret in logs, audit events or error bodies: intercepted requests', () => {
  it('drives success and every per-request failure path (each answers as expected)', async () => {
    const q = `?${CLIENT.query}&keep=1`;
    expect(await send(t.api, `/ok${q}`)).toBe(200);
    expect(await send(t.hdr, `/h/ok${q}`)).toBe(200);
    expect(await send(t.qry, `/ok${q}`)).toBe(200);
    expect(await send(t.crlf, `/x${q}`)).toBe(502); // invalid_credential
    expect(await send(t.missing, `/x${q}`)).toBe(503); // credential_unavailable
    expect(await send(t.tls, `/x${q}`)).toBe(502); // upstream_tls_error
    expect(await send(t.closed, `/x${q}`)).toBe(502); // upstream_error
    expect(await send(t.api, `/hang${q}`)).toBe(504); // upstream_timeout
    expect(await send(t.api, `/reset${q}`)).toBe(0); // cut short after the head
    expect(await send(t.api, `/x${q}`, { host: t.hdr })).toBe(421);
    expect(await send(t.hdr, `/nope${q}`)).toBe(403); // no_matching_service
    expect(await send(t.api, `/x${q}`, { 'x-clef-service': 'qry' })).toBe(403); // service_not_allowed
    expect(await send(t.amb, `/x${q}`)).toBe(400); // ambiguous_service
    expect(await send(t.api, `/a/../b${q}`)).toBe(400); // dot segment
    const head = `Host: ${t.api}\r\nAuthorization: ${CLIENT.auth}\r\nCookie: ${CLIENT.cookie}\r\n`;
    const smuggle = `POST /x?${CLIENT.query} HTTP/1.1\r\n${head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`;
    expect(await sendRaw(t.api, smuggle)).toMatch(/^HTTP\/1\.1 400 /);
    const huge = `GET /x?${CLIENT.query} HTTP/1.1\r\n${head}X-Pad: ${'p'.repeat(5000)}\r\n\r\n`;
    expect(await sendRaw(t.api, huge)).toMatch(/^HTTP\/1\.1 431 /);
    const proxyAuth = `GET /x HTTP/1.1\r\n${head}Proxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`;
    expect(await sendRaw(t.api, proxyAuth)).toMatch(/^HTTP\/1\.1 200 /);
    await proxy.waitForEvents(17);
  });

  it('the secrets really were in play: the upstream got each injected credential', () => {
    const seen = JSON.stringify(good.received.map((r) => [r.url, r.rawHeaders]));
    for (const key of ['B', 'H'] as const) expect(seen).toContain(SECRETS[key]);
    expect(seen).toContain(`token=${SECRETS.Q}`);
    expect(seen).not.toContain('leak-crlf');
  });

  it('the captures are live: the trace log and the audit log both recorded the run', () => {
    expect(logText).toContain('"msg":"secret unavailable"');
    expect(proxy.events.filter((e) => e.event === 'request').length).toBeGreaterThanOrEqual(15);
    expect(proxyMade.join('\n')).toContain('invalid_credential');
  });

  it.each(NEEDLES.map((n) => [n]))(
    '%j appears in no log line, audit event or proxy-made response',
    (needle) => {
      expect(logText).not.toContain(needle);
      expect(JSON.stringify(proxy.events)).not.toContain(needle);
      expect(proxyMade.join('\n')).not.toContain(needle);
    },
  );

  it('the invalid_credential refusal names neither the value nor any fragment of it', () => {
    const ev = proxy.events.find((e) => 'reason' in e && e.reason === 'invalid_credential');
    expect(ev).toMatchObject({ event: 'request', decision: 'deny', status: 502, secret_ref: 'CRLF' });
    const line = logText
      .split('\n')
      .filter((l) => l.includes('crlf'))
      .join('\n');
    expect(line).not.toMatch(/leak-crlf|X-Evil/);
  });
});
