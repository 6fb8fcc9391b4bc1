/**
 * Credential injection inside an intercepted TLS session (SPEC §5 auth types, §6 "Injection replaces", strip):
 * every assertion is on what the real upstream RECEIVED, plus the audit event for the request.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceInput } from '../../../src/agent/services.js';
import type { RequestEvent } from '../../../src/audit/events.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { httpsRequestThrough } from '../../helpers/tls-client.js';
import { startUpstream } from '../../helpers/upstream.js';
import { closeKept, keep } from './intercept-helpers.js';

afterEach(closeKept);

/** Values of every raw header named `name` (case-insensitive), in order. */
function rawValues(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]!);
  }
  return out;
}

async function setup(auth: ServiceInput['auth'], secret: string, host = 'api.upstream.test') {
  const upstream = keep(await startUpstream());
  const target = `${host}:${upstream.port}`;
  const proxy = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth }],
      secrets: { KEY: secret },
    }),
  );
  return { target, up: upstream, px: proxy };
}

describe('each auth type is injected', () => {
  it("bearer: Authorization: Bearer <v>, replacing the client's own", async () => {
    const { target, up, px } = await setup({ type: 'bearer', secret: 'KEY' }, 'tok-bearer-1');
    const res = await httpsRequestThrough(
      px.port,
      target,
      {
        path: '/v1/things?a=1',
        headers: ['Host', target, 'authorization', 'Bearer client-own', 'AUTHORIZATION', 'x'],
      },
      { ca: px.proxy.caCertPem },
    );
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    const got = up.received[0]!;
    expect(got.url).toBe('/v1/things?a=1');
    expect(rawValues(got.rawHeaders, 'authorization')).toEqual(['Bearer tok-bearer-1']);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({
      event: 'request',
      decision: 'inject',
      service: 'svc',
      auth_type: 'bearer',
      secret_ref: 'KEY',
      method: 'GET',
      path: '/v1/things',
      status: 200,
      host: 'api.upstream.test',
      port: up.port,
    });
    expect(JSON.stringify(px.events)).not.toContain('tok-bearer-1');
    expect(JSON.stringify(px.events)).not.toContain('a=1');
  });

  it.each([
    ['with a prefix', 'Token ', 'Token k-123'],
    ['without a prefix', '', 'k-123'],
  ])(
    "api_key_header %s: the header set once, the client's odd-case copy replaced",
    async (_n, prefix, want) => {
      const { target, up, px } = await setup(
        { type: 'api_key_header', header: 'X-Api-Key', prefix, secret: 'KEY' },
        'k-123',
      );
      const res = await httpsRequestThrough(
        px.port,
        target,
        { path: '/k', headers: ['Host', target, 'x-API-kEy', 'client-value', 'X-Other', 'kept'] },
        { ca: px.proxy.caCertPem },
      );
      expect(res.status).toBe(200);
      const got = up.received[0]!;
      expect(rawValues(got.rawHeaders, 'x-api-key')).toEqual([want]);
      expect(rawValues(got.rawHeaders, 'x-other')).toEqual(['kept']);
      const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
      expect(ev).toMatchObject({ decision: 'inject', auth_type: 'api_key_header', status: 200 });
    },
  );

  it("api_key_query: value percent-encoded, the client's copies removed, other params byte-identical", async () => {
    const { target, up, px } = await setup(
      { type: 'api_key_query', param: 'key', secret: 'KEY' },
      'a b&c=d/é',
    );
    const res = await httpsRequestThrough(
      px.port,
      target,
      { path: '/q?z=%41%2f&key=client-own-key&y=1+2&empty=&key=again&flag' },
      { ca: px.proxy.caCertPem },
    );
    expect(res.status).toBe(200);
    expect(up.received[0]!.url).toBe('/q?z=%41%2f&y=1+2&empty=&flag&key=a%20b%26c%3Dd%2F%C3%A9');
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'inject', auth_type: 'api_key_query', path: '/q' });
    expect(JSON.stringify(px.events)).not.toContain('client-own-key');
  });

  it('api_key_query on a path with no query adds one', async () => {
    const { target, up, px } = await setup(
      { type: 'api_key_query', param: 'api_key', secret: 'KEY' },
      's3cr=t',
    );
    await httpsRequestThrough(px.port, target, { path: '/plain' }, { ca: px.proxy.caCertPem });
    expect(up.received[0]!.url).toBe('/plain?api_key=s3cr%3Dt');
  });
});

describe('headers for the proxy or the hop never reach the upstream', () => {
  it('strips Proxy-Authorization, X-Clef-Service, hop-by-hop headers and those named in Connection', async () => {
    const { target, up, px } = await setup({ type: 'bearer', secret: 'KEY' }, 'v');
    const res = await httpsRequestThrough(
      px.port,
      target,
      {
        path: '/s',
        headers: [
          'Host',
          target,
          'Proxy-Authorization',
          'Basic Zm9vOmJhcg==',
          'X-Clef-Service',
          'svc',
          'Connection',
          'keep-alive, X-Hop-Thing',
          'Keep-Alive',
          'timeout=5',
          'TE',
          'trailers',
          'Upgrade',
          'h2c',
          'Proxy-Connection',
          'keep-alive',
          'X-Hop-Thing',
          'gone',
          'X-End-To-End',
          'stays',
        ],
      },
      { ca: px.proxy.caCertPem },
    );
    expect(res.status).toBe(200);
    const names = up.received[0]!.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const gone of [
      'proxy-authorization',
      'x-clef-service',
      'keep-alive',
      'te',
      'upgrade',
      'proxy-connection',
      'x-hop-thing',
    ]) {
      expect(names).not.toContain(gone);
    }
    // Node's client adds its own `Connection` for the upstream hop; the client's value is not it.
    expect(rawValues(up.received[0]!.rawHeaders, 'connection').join()).not.toContain('X-Hop-Thing');
    expect(rawValues(up.received[0]!.rawHeaders, 'x-end-to-end')).toEqual(['stays']);
    expect(rawValues(up.received[0]!.rawHeaders, 'authorization')).toEqual(['Bearer v']);
  });
});
