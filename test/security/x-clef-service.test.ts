/**
 * Invariant: `X-Clef-Service` cannot select a service for another host (SPEC §6: "An `X-Clef-Service` naming a
 * service that is not a candidate ⇒ 403 `service_not_allowed`"). The header picks among the candidates of this
 * host and path only; naming a service of another host, or another path, never pulls its credential here.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough, type ThroughResponse } from '../helpers/tls-client.js';
import { FIXTURE_CA_PEM, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const SECRETS = { API: 'xcs-api-3b8e', OTHER: 'xcs-other-91fa', V2: 'xcs-v2-55c0' } as const;

let up: TestUpstream;
let proxy: TestProxy;
let api: string;
let other: string;
let open: string;

beforeAll(async () => {
  up = await startUpstream();
  api = `api.upstream.test:${up.port}`;
  other = `other.upstream.test:${up.port}`;
  open = `upstream.test:${up.port}`;
  proxy = await startTestProxy({
    services: [
      { name: 'api', hosts: [api], path_prefix: '/v1', auth: { type: 'bearer', secret: 'API' } },
      { name: 'api-v2', hosts: [api], path_prefix: '/v2', auth: { type: 'bearer', secret: 'V2' } },
      { name: 'other', hosts: [other], auth: { type: 'bearer', secret: 'OTHER' } },
    ],
    secrets: SECRETS,
    // `api` is also passthrough, so a path no service covers would be forwarded — without a credential; `open`
    // has no service at all and is tunnelled blind.
    passthroughHosts: [api, open],
  });
});
afterAll(async () => {
  await proxy?.close();
  await up?.close();
});
afterEach(() => {
  up.received.length = 0;
});

function send(target: string, path: string, service: string | string[]): Promise<ThroughResponse> {
  const headers = Array.isArray(service)
    ? ['Host', target, ...service.flatMap((s) => ['X-Clef-Service', s])]
    : ['Host', target, 'X-Clef-Service', service];
  return httpsRequestThrough(proxy.port, target, { path, headers }, { ca: proxy.proxy.caCertPem });
}

function anySecretUpstream(): boolean {
  const all = JSON.stringify(up.received.map((r) => [r.url, r.rawHeaders]));
  return Object.values(SECRETS).some((s) => all.includes(s));
}

describe('X-Clef-Service cannot select a service for another host', () => {
  it('baseline: naming the candidate itself works and the header is not forwarded', async () => {
    const res = await send(api, '/v1/x', 'api');
    expect(res.status).toBe(200);
    expect(up.received[0]!.headers.authorization).toBe(`Bearer ${SECRETS.API}`);
    expect(up.received[0]!.headers['x-clef-service']).toBeUndefined();
  });

  it.each([
    ['a service of another host', () => api, '/v1/x', 'other'],
    ['this host’s service from the other host', () => other, '/x', 'api'],
    ['a service of this host but another path', () => api, '/v1/x', 'api-v2'],
    ['a path no service covers on a host that is also passthrough', () => api, '/v3/x', 'api'],
    ['a name differing only in case', () => api, '/v1/x', 'API'],
    ['a name with edge spaces', () => api, '/v1/x', ' other '],
    ['an unknown name', () => api, '/v1/x', 'nope'],
  ])('%s: 403 service_not_allowed, nothing upstream', async (_label, target, path, service) => {
    const res = await send(target(), path, service);
    expect(res.status).toBe(403);
    expect(res.headers['x-clef-proxy-error']).toBe('service_not_allowed');
    expect(up.received).toHaveLength(0);
  });

  it('a blind tunnel to a passthrough host: the header is just bytes to the upstream, no credential added', async () => {
    // No interception: the client verifies the upstream's own certificate.
    const res = await httpsRequestThrough(
      proxy.port,
      open,
      { path: '/v1/x', headers: ['Host', open, 'X-Clef-Service', 'api'] },
      { ca: FIXTURE_CA_PEM },
    );
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.headers.authorization).toBeUndefined();
    expect(anySecretUpstream()).toBe(false);
  });

  it('two X-Clef-Service headers (candidate and foreign) do not combine into a foreign pick', async () => {
    const res = await send(api, '/v1/x', ['api', 'other']);
    expect(res.status).toBe(403);
    expect(up.received).toHaveLength(0);
    expect(anySecretUpstream()).toBe(false);
  });
});
