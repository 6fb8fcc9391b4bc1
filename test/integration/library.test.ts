/**
 * The library API (SPEC §11), through the package's public entry `src/index.ts`: two proxies in one process with
 * their own tokens, services, secrets, CAs and audit functions do not see each other; `close()` resolves and
 * frees the port while the other keeps serving.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuditEvent, createStaticSource, type RunningProxy, startProxy } from '../../src/index.js';
import { basicAuth, connectThrough, connectTo } from '../helpers/proxy.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import {
  FIXTURE_CA_PEM,
  lookupTo,
  startUpstream,
  TEST_ALLOW_PRIVATE,
  type TestUpstream,
} from '../helpers/upstream.js';

interface Instance {
  readonly name: 'a' | 'b';
  readonly proxy: RunningProxy;
  readonly token: string;
  readonly host: string;
  readonly events: AuditEvent[];
}

let up: TestUpstream;
const dirs: string[] = [];
let a: Instance;
let b: Instance;

async function start(name: 'a' | 'b', hostName: string): Promise<Instance> {
  const dir = await mkdtemp(join(tmpdir(), `clef-proxy-lib-${name}-`));
  dirs.push(dir);
  const host = `${hostName}:${up.port}`;
  const token = `token-${name}`;
  const events: AuditEvent[] = [];
  const proxy = await startProxy({
    ca: { dir },
    source: createStaticSource({
      services: [{ name: `svc-${name}`, hosts: [host], auth: { type: 'bearer', secret: `KEY_${name}` } }],
      secrets: { [`KEY_${name}`]: `secret-${name}` },
    }),
    workloadToken: token,
    upstreamCa: FIXTURE_CA_PEM,
    lookup: lookupTo('127.0.0.1'),
    egress: { allowPrivate: TEST_ALLOW_PRIVATE },
    audit: (e) => events.push(e),
  });
  return { name, proxy, token, host, events };
}

beforeAll(async () => {
  up = await startUpstream();
  a = await start('a', 'api.upstream.test');
  b = await start('b', 'other.upstream.test');
});

afterAll(async () => {
  await a?.proxy.close();
  await b?.proxy.close();
  await up?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function request(via: Instance, to: Instance, path: string, opts: { token?: string; ca?: string } = {}) {
  return httpsRequestThrough(
    via.proxy.port,
    to.host,
    { path },
    { ca: opts.ca ?? via.proxy.caCertPem, auth: basicAuth(opts.token ?? via.token) },
  );
}

describe('two proxies in one process (SPEC §11)', () => {
  it('each injects its own secret for its own service', async () => {
    const ra = await request(a, a, '/from-a');
    const rb = await request(b, b, '/from-b');
    expect([ra.status, rb.status]).toEqual([200, 200]);
    const byUrl = Object.fromEntries(up.received.map((r) => [r.url, r.headers.authorization]));
    expect(byUrl).toMatchObject({ '/from-a': 'Bearer secret-a', '/from-b': 'Bearer secret-b' });
  });

  it("each refuses the other's token (407) and the other's service host (403)", async () => {
    const wrongToken = await connectThrough(a.proxy.port, a.host, basicAuth(b.token));
    const wrongHost = await connectThrough(b.proxy.port, a.host, basicAuth(b.token));
    wrongToken.socket.destroy();
    wrongHost.socket.destroy();
    expect(wrongToken.status).toBe(407);
    expect(wrongHost.status).toBe(403);
    expect(wrongHost.head).toContain('X-Clef-Proxy-Error: host_not_allowed');
  });

  it('each has its own CA: a leaf from one does not verify against the other', async () => {
    expect(a.proxy.caCertPem).not.toBe(b.proxy.caCertPem);
    await expect(request(a, a, '/cross', { ca: b.proxy.caCertPem })).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
  });

  it('each audit function received only its own events', () => {
    const hostsOf = (i: Instance) => new Set(i.events.map((e) => e.host));
    expect(hostsOf(a)).toEqual(new Set(['api.upstream.test']));
    expect(hostsOf(b)).toEqual(new Set(['api.upstream.test', 'other.upstream.test']));
    expect(a.events.filter((e) => e.event === 'request')).toEqual([
      expect.objectContaining({ path: '/from-a', service: 'svc-a', decision: 'inject', status: 200 }),
    ]);
    expect(b.events.filter((e) => e.event === 'request')).toEqual([
      expect.objectContaining({ path: '/from-b', service: 'svc-b', decision: 'inject', status: 200 }),
    ]);
    expect(a.events.filter((e) => e.event === 'deny').map((e) => e.reason)).toEqual(['proxy_auth_required']);
    expect(b.events.filter((e) => e.event === 'deny').map((e) => e.reason)).toEqual(['host_not_allowed']);
  });

  it('close() resolves and frees the port; the other proxy keeps serving', async () => {
    const port = a.proxy.port;
    await a.proxy.close();
    await expect(connectTo(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise((r) => again.close(r));
    await a.proxy.close(); // idempotent
    expect((await request(b, b, '/after-a-closed')).status).toBe(200);
  });
});
