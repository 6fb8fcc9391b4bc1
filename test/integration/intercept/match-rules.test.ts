/**
 * The per-request match rules inside an intercepted session (SPEC §6 "Per request", §5 `path_prefix`): 0 / 1 / N
 * candidates, `X-Clef-Service`, prefix boundaries, and a service host that is also passthrough.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { httpsRequestThrough, type ThroughResponse } from '../../helpers/tls-client.js';
import { startUpstream } from '../../helpers/upstream.js';
import { closeKept, keep } from './intercept-helpers.js';

afterEach(closeKept);

function authValues(rawHeaders: readonly string[]): string[] {
  return rawHeaders.filter(
    (_v, i) => i > 0 && rawHeaders[i - 1]!.toLowerCase() === 'authorization' && i % 2 === 1,
  );
}

function expectProxyError(res: ThroughResponse, status: number, code: string): Record<string, unknown> {
  expect(res.status).toBe(status);
  expect(res.headers['x-clef-proxy-error']).toBe(code);
  expect(res.headers['content-type']).toBe('application/json');
  const body = res.json();
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe('string');
  return body;
}

/**
 * Two services on one host (both prefix `/`), one on another host, and a `/v1` service on a third, which can also
 * be made a passthrough host.
 */
async function setup(v1HostIsPassthrough = false) {
  const upstream = keep(await startUpstream());
  const p = upstream.port;
  const api = `api.upstream.test:${p}`;
  const proxy = keep(
    await startTestProxy({
      services: [
        { name: 'alpha', hosts: [api], auth: { type: 'bearer', secret: 'A' } },
        { name: 'beta', hosts: [api], auth: { type: 'bearer', secret: 'B' } },
        { name: 'elsewhere', hosts: [`other.upstream.test:${p}`], auth: { type: 'bearer', secret: 'O' } },
        {
          name: 'v1',
          hosts: [`upstream.test:${p}`],
          path_prefix: '/v1',
          auth: { type: 'bearer', secret: 'V' },
        },
      ],
      secrets: { A: 'secret-alpha', B: 'secret-beta', O: 'secret-other', V: 'secret-v1' },
      passthroughHosts: v1HostIsPassthrough ? [`upstream.test:${p}`] : [],
    }),
  );
  const send = (target: string, path: string, headers: Record<string, string> = {}) =>
    httpsRequestThrough(proxy.port, target, { path, headers }, { ca: proxy.proxy.caCertPem });
  return { api, up: upstream, px: proxy, send, port: p };
}

describe('two candidates', () => {
  it('without X-Clef-Service: 400 ambiguous_service listing both, upstream never contacted', async () => {
    const { api, up, px, send } = await setup();
    const res = await send(api, '/x');
    const body = expectProxyError(res, 400, 'ambiguous_service');
    expect(body.candidates).toEqual(['alpha', 'beta']);
    expect(up.connections).toBe(0);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({
      event: 'request',
      decision: 'deny',
      reason: 'ambiguous_service',
      status: 400,
    });
    expect(ev!.service).toBeNull();
  });

  it('X-Clef-Service naming a candidate picks it, and the header is not forwarded', async () => {
    const { api, up, px, send } = await setup();
    const res = await send(api, '/x', { 'X-Clef-Service': 'beta', authorization: 'Bearer mine' });
    expect(res.status).toBe(200);
    expect(authValues(up.received[0]!.rawHeaders)).toEqual(['Bearer secret-beta']);
    expect(up.received[0]!.headers['x-clef-service']).toBeUndefined();
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'inject', service: 'beta', secret_ref: 'B', status: 200 });
  });

  it.each([
    ['a service of another host', 'elsewhere'],
    ['a service that does not exist', 'nobody'],
    ['a candidate name in the wrong case', 'Alpha'],
  ])('X-Clef-Service naming %s: 403 service_not_allowed, never injected', async (_n, name) => {
    const { api, up, px, send } = await setup();
    const res = await send(api, '/x', { 'X-Clef-Service': name });
    expectProxyError(res, 403, 'service_not_allowed');
    expect(up.received).toHaveLength(0);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'deny', reason: 'service_not_allowed', status: 403, service: null });
  });
});

describe('path_prefix matches on segment boundaries', () => {
  it.each([
    ['/v1', 200],
    ['/v1/', 200],
    ['/v1/deep/x?q=1', 200],
    ['/v10', 403],
    ['/v1x/a', 403],
    ['/', 403],
    ['/V1', 403],
  ])('%s → %i', async (path, status) => {
    const { up, px, send, port } = await setup();
    const res = await send(`upstream.test:${port}`, path);
    expect(res.status).toBe(status);
    if (status === 200) {
      expect(up.received.map((r) => r.url)).toEqual([path]);
      expect(authValues(up.received[0]!.rawHeaders)).toEqual(['Bearer secret-v1']);
    } else {
      expectProxyError(res, 403, 'no_matching_service');
      expect(up.received).toHaveLength(0);
      const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
      expect(ev).toMatchObject({ decision: 'deny', reason: 'no_matching_service', status: 403 });
    }
  });
});

describe('a service host that is also a passthrough host', () => {
  it("0 candidates: forwarded unchanged (decision forward), the client's own Authorization kept", async () => {
    const { up, px, send, port } = await setup(true);
    const target = `upstream.test:${port}`;
    const res = await send(target, '/public/x?y=2', { authorization: 'Bearer the-clients-own' });
    expect(res.status).toBe(200);
    expect(up.received[0]!.url).toBe('/public/x?y=2');
    expect(authValues(up.received[0]!.rawHeaders)).toEqual(['Bearer the-clients-own']);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({
      decision: 'forward',
      service: null,
      auth_type: null,
      secret_ref: null,
      path: '/public/x',
      status: 200,
    });
    expect(ev!.reason).toBeUndefined();
  });

  it('the service still wins for its own prefix (CONNECT intercepted, not tunnelled)', async () => {
    const { up, px, send, port } = await setup(true);
    const res = await send(`upstream.test:${port}`, '/v1/a');
    expect(res.status).toBe(200);
    expect(authValues(up.received[0]!.rawHeaders)).toEqual(['Bearer secret-v1']);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ event: 'request', decision: 'inject', service: 'v1' });
  });
});
