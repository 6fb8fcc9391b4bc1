/**
 * The SPEC §6 error codes a request inside an intercepted TLS session can get (malformed framing is in
 * framing.test.ts), each checked on the status, `X-Clef-Proxy-Error`, the JSON body, the audit event, and on what
 * the upstream did (not) receive.
 */
import { type AddressInfo, createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { startTestProxy, type TestProxyOptions } from '../../helpers/proxy.js';
import { httpsRequestThrough, type ThroughResponse } from '../../helpers/tls-client.js';
import { type StartUpstreamOptions, startUpstream } from '../../helpers/upstream.js';
import { closeKept, keep } from './intercept-helpers.js';

afterEach(closeKept);

function expectProxyError(res: ThroughResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers['x-clef-proxy-error']).toBe(code);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.json()).toMatchObject({ error: code });
}

async function setup(opts: {
  upstream?: StartUpstreamOptions;
  port?: number;
  secret?: string;
  secretKey?: string;
  proxy?: TestProxyOptions;
}) {
  const upstream = keep(await startUpstream(opts.upstream));
  const target = `api.upstream.test:${opts.port ?? upstream.port}`;
  const proxy = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: opts.secretKey ?? 'KEY' } }],
      secrets: { KEY: opts.secret ?? 'the-secret' },
      ...opts.proxy,
    }),
  );
  const send = (path = '/x', headers: Record<string, string> = {}) =>
    httpsRequestThrough(proxy.port, target, { path, headers }, { ca: proxy.proxy.caCertPem });
  return { target, up: upstream, px: proxy, send };
}

describe('request-level refusals', () => {
  it.each([
    ['another host', (t: string) => t.replace('api.', 'other.')],
    ['another port', (t: string) => t.replace(/:\d+$/, ':1')],
    ['the bare host (port is not 443)', (t: string) => t.replace(/:\d+$/, '')],
  ])('Host naming %s: 421 misdirected_request, nothing upstream', async (_n, host) => {
    const { target, up, px, send } = await setup({});
    const res = await send('/x', { host: host(target) });
    expectProxyError(res, 421, 'misdirected_request');
    expect(up.connections).toBe(0);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({
      event: 'request',
      decision: 'deny',
      reason: 'misdirected_request',
      status: 421,
    });
  });

  it.each([
    ['in upper case', (t: string) => t.toUpperCase()],
    ['with a trailing dot', (t: string) => t.replace(':', '.:')],
  ])('Host naming the CONNECT host %s is the same host', async (_n, host) => {
    const { target, up, send } = await setup({});
    const res = await send('/x', { host: host(target) });
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
  });

  it('two Host headers: 400 bad_request, nothing upstream', async () => {
    const { target, up, px } = await setup({});
    const res = await httpsRequestThrough(
      px.port,
      target,
      { path: '/x', headers: ['Host', target, 'Host', `evil.test:${up.port}`] },
      { ca: px.proxy.caCertPem },
    );
    expectProxyError(res, 400, 'bad_request');
    expect(up.connections).toBe(0);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'deny', reason: 'bad_request', status: 400 });
  });

  it.each([
    ['absolute-form', (t: string) => `https://${t}/x`],
    ['a dot segment', () => '/v1/../admin'],
  ])('a request target in %s: 400 bad_request, nothing upstream', async (_n, path) => {
    const { target, up, send } = await setup({});
    const res = await send(path(target));
    expectProxyError(res, 400, 'bad_request');
    expect(up.connections).toBe(0);
  });

  it('a header block over max_header_bytes: 431 headers_too_large', async () => {
    const { up, px, send } = await setup({ proxy: { limits: { maxHeaderBytes: 4096 } } });
    const res = await send('/x', { 'x-big': 'a'.repeat(5000) });
    expectProxyError(res, 431, 'headers_too_large');
    expect(up.connections).toBe(0);
    const [ev] = await px.waitForEvents(1);
    expect(ev).toMatchObject({ decision: 'deny', reason: 'headers_too_large', status: 431 });
  });

  it.each([
    ['CR LF', 'abc\r\nX-Evil: 1'],
    ['a bare LF', 'abc\ndef'],
    ['NUL', 'abc\0def'],
  ])('a secret holding %s: 502 invalid_credential, upstream never contacted', async (_n, secret) => {
    const { up, px, send } = await setup({ secret });
    const res = await send();
    expectProxyError(res, 502, 'invalid_credential');
    expect(up.connections).toBe(0);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'deny', reason: 'invalid_credential', status: 502, service: 'svc' });
    expect(JSON.stringify(px.events)).not.toContain('abc');
  });

  it('an unknown secret key: 503 credential_unavailable, upstream never contacted', async () => {
    const { up, px, send } = await setup({ secretKey: 'MISSING' });
    const res = await send();
    expectProxyError(res, 503, 'credential_unavailable');
    expect(up.connections).toBe(0);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({
      decision: 'deny',
      reason: 'credential_unavailable',
      status: 503,
      secret_ref: 'MISSING',
    });
  });
});

describe('upstream failures', () => {
  it('upstream port closed: 502 upstream_error', async () => {
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const closedPort = (spare.address() as AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
    const { px, send } = await setup({ port: closedPort });
    const res = await send();
    expectProxyError(res, 502, 'upstream_error');
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'inject', reason: 'upstream_error', status: 502, port: closedPort });
  });

  it('an upstream certificate we cannot verify: 502 upstream_tls_error, and no request (no credential) sent', async () => {
    const { up, px, send } = await setup({ upstream: { cert: 'untrusted' } });
    const res = await send();
    expectProxyError(res, 502, 'upstream_tls_error');
    expect(up.received).toHaveLength(0);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ reason: 'upstream_tls_error', status: 502 });
  });

  it('no response head within upstream_response_timeout_ms: 504 upstream_timeout, upstream request aborted', async () => {
    let abandoned: Promise<boolean> | undefined;
    const { up, px, send } = await setup({
      upstream: {
        handler: (_req, res) => {
          // Never answers; resolves true when the proxy gives up on the response.
          abandoned = new Promise((resolve) => res.once('close', () => resolve(!res.writableFinished)));
        },
      },
      proxy: { limits: { upstreamResponseTimeoutMs: 300 } },
    });
    const res = await send();
    expectProxyError(res, 504, 'upstream_timeout');
    expect(up.received).toHaveLength(1);
    expect(await abandoned).toBe(true);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'inject', reason: 'upstream_timeout', status: 504 });
  });

  it('upstream closes the connection before any response: 502 upstream_error', async () => {
    const { up, px, send } = await setup({ upstream: { handler: (req) => req.socket.destroy() } });
    const res = await send();
    expectProxyError(res, 502, 'upstream_error');
    expect(up.received).toHaveLength(1);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'inject', reason: 'upstream_error', status: 502 });
  });
});
