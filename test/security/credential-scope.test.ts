/**
 * Invariant: a credential goes only to the hosts and paths its service names (SPEC §5 `path_prefix`, §6 match).
 * One service owns `api.upstream.test:<port>` under `/v1`; every request that is not exactly that — another host,
 * a sibling path, a dot-segment escape, a passthrough tunnel — must reach the upstream without its secret, or not
 * at all. Assertions are on what the real upstream received.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectThrough, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough, type ThroughResponse } from '../helpers/tls-client.js';
import {
  FIXTURE_CA_PEM,
  type ReceivedRequest,
  startUpstream,
  type TestUpstream,
} from '../helpers/upstream.js';

const SECRET_A = 'scope-secret-A-5d1e0c';
const SECRET_B = 'scope-secret-B-77a9f3';

let up: TestUpstream;
let proxy: TestProxy;
let api: string;
let other: string;
let passthrough: string;

beforeAll(async () => {
  up = await startUpstream();
  api = `api.upstream.test:${up.port}`;
  other = `other.upstream.test:${up.port}`;
  passthrough = `upstream.test:${up.port}`;
  proxy = await startTestProxy({
    services: [
      { name: 'scoped', hosts: [api], path_prefix: '/v1', auth: { type: 'bearer', secret: 'A' } },
      { name: 'other', hosts: [other], auth: { type: 'api_key_header', header: 'X-Api-Key', secret: 'B' } },
    ],
    secrets: { A: SECRET_A, B: SECRET_B },
    passthroughHosts: [passthrough],
  });
});
afterAll(async () => {
  await proxy?.close();
  await up?.close();
});
afterEach(() => {
  up.received.length = 0;
});

/** Everything a received request carried, as text: target, headers and body. */
function carried(r: ReceivedRequest): string {
  return `${r.url}\n${r.rawHeaders.join('\n')}\n${r.body.toString('latin1')}`;
}

function sawSecret(secret: string): boolean {
  return up.received.some((r) => carried(r).includes(secret));
}

function send(target: string, path: string, headers: Record<string, string> = {}): Promise<ThroughResponse> {
  return httpsRequestThrough(proxy.port, target, { path, headers }, { ca: proxy.proxy.caCertPem });
}

describe('a credential goes only to the hosts and paths its service names', () => {
  it('baseline: the service host under its prefix gets exactly its own secret', async () => {
    const res = await send(api, '/v1/things');
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.headers.authorization).toBe(`Bearer ${SECRET_A}`);
    expect(sawSecret(SECRET_B)).toBe(false);
  });

  it.each([
    ['a sibling path sharing the prefix text', '/v10', 403],
    ['a path extending the prefix without a slash', '/v1x/y', 403],
    ['the root', '/', 403],
    ['another case', '/V1/x', 403],
    ['the prefix only percent-encoded', '/%76%31/x', 403],
    ['the prefix only in the query', '/?next=/v1/x', 403],
    ['a dot-dot escape', '/v1/../x', 400],
    ['an encoded dot-dot escape', '/v1/%2e%2e/x', 400],
    ['a double-encoded dot-dot escape', '/v1/%252e%252e/x', 400],
    ['a dot-dot behind an encoded slash', '/v1%2f..%2fx', 400],
    ['a Tomcat-style ..;', '/v1/..;/x', 400],
    ['a backslash dot-dot', '/v1\\..\\x', 400],
    ['a single-dot segment', '/v1/./x', 400],
  ])('%s (%s): refused, nothing reaches the upstream', async (_label, path, status) => {
    const res = await send(api, path);
    expect(res.status).toBe(status);
    expect(res.headers['x-clef-proxy-error']).toBeDefined();
    expect(up.received).toHaveLength(0);
  });

  it('another service host gets its own secret and never this one', async () => {
    const res = await send(other, '/v1/things');
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.headers['x-api-key']).toBe(SECRET_B);
    expect(sawSecret(SECRET_A)).toBe(false);
  });

  it('a Host header naming the other service host on this tunnel is refused (421), nothing upstream', async () => {
    const res = await send(api, '/v1/things', { host: other });
    expect(res.status).toBe(421);
    expect(up.received).toHaveLength(0);
  });

  it('a passthrough tunnel to the same upstream carries no credential at all', async () => {
    // Blind tunnel: the client verifies the upstream's own certificate, not our CA.
    const res = await httpsRequestThrough(
      proxy.port,
      passthrough,
      { path: '/v1/things' },
      { ca: FIXTURE_CA_PEM },
    );
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.headers.authorization).toBeUndefined();
    expect(sawSecret(SECRET_A) || sawSecret(SECRET_B)).toBe(false);
  });

  it('a host no service or passthrough entry names is refused at CONNECT, nothing upstream', async () => {
    const { socket, status } = await connectThrough(proxy.port, `localhost:${up.port}`);
    socket.destroy();
    expect(status).toBe(403);
    expect(up.received).toHaveLength(0);
  });
});

describe('a service host that is also passthrough: paths outside the prefix go without the credential', () => {
  let both: TestProxy;
  beforeAll(async () => {
    both = await startTestProxy({
      services: [{ name: 'scoped', hosts: [api], path_prefix: '/v1', auth: { type: 'bearer', secret: 'A' } }],
      secrets: { A: SECRET_A },
      passthroughHosts: [api],
    });
  });
  afterAll(async () => {
    await both?.close();
  });

  it.each(['/v10', '/', '/v1x'])('%s is forwarded unchanged, no secret', async (path) => {
    const res = await httpsRequestThrough(both.port, api, { path }, { ca: both.proxy.caCertPem });
    expect(res.status).toBe(200);
    expect(up.received).toHaveLength(1);
    expect(up.received[0]!.url).toBe(path);
    expect(up.received[0]!.headers.authorization).toBeUndefined();
    expect(sawSecret(SECRET_A)).toBe(false);
  });
});
