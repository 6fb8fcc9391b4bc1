/**
 * Chaining as `clef-proxy serve` resolves it (SPEC §7, §2): the config's `upstream_proxy` wins over the
 * environment; otherwise `HTTPS_PROXY` (tunnels, TLS) and `HTTP_PROXY` (forwarded `http://`), upper-case before
 * lower-case, and `NO_PROXY`. Each chain proxy records what it was asked to CONNECT to.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/events.js';
import { startChainProxy, type TestChainProxy } from '../../helpers/chain-proxy.js';
import { type FixtureAgent, startFixtureAgent } from '../../helpers/fixture-agent.js';
import { basicAuth, connectTo, readAll, WORKLOAD_TOKEN } from '../../helpers/proxy.js';
import {
  cliBuild,
  removeCliBuild,
  type ServeProcess,
  spawnServe,
  stopAllServes,
} from '../../helpers/serve.js';
import { httpsRequestThrough } from '../../helpers/tls-client.js';
import { FIXTURE_CA_PEM, fixturePath, startUpstream, type TestUpstream } from '../../helpers/upstream.js';

const AGENT_TOKEN = 'chain-env-agent-token';
const SECRET = 'chain-env-secret';

let upstream: TestUpstream;
let plain: Server;
let agent: FixtureAgent;
let dir: string;
let U: number;
let H: number;
/** A..E: five chain proxies, each with its own Basic credentials. */
const chains: Record<'A' | 'B' | 'C' | 'D' | 'E', TestChainProxy> = {} as never;

beforeAll(async () => {
  await cliBuild();
  dir = await mkdtemp(join(tmpdir(), 'clef-chain-env-'));
  upstream = await startUpstream();
  U = upstream.port;
  plain = createServer((_req, res) => res.end('plain-ok'));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
  H = (plain.address() as AddressInfo).port;
  for (const name of ['A', 'B', 'C', 'D', 'E'] as const) {
    chains[name] = await startChainProxy({ username: `user-${name}`, password: `pass-${name}` });
  }
  agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [{ name: 'svc', hosts: [`localhost:${U}`], auth: { type: 'bearer', secret: 'K' } }],
      secrets: { K: SECRET },
    },
  });
}, 120_000);
afterAll(async () => {
  await agent?.stop();
  for (const c of Object.values(chains)) await c.close();
  await new Promise((r) => plain?.close(r));
  await upstream?.close();
  await removeCliBuild();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await stopAllServes();
  for (const c of Object.values(chains)) {
    c.connects.splice(0);
    c.httpRequests.splice(0);
  }
});

let seq = 0;
async function serve(env: Record<string, string>, extra: Record<string, unknown> = {}) {
  const caDir = join(dir, `ca-${++seq}`);
  const sp = await spawnServe({
    config: {
      listen: '127.0.0.1:0',
      agent: { url: agent.url },
      passthrough_hosts: [`127.0.0.1:${U}`, `127.0.0.1:${H}`],
      upstream_ca_file: fixturePath('ca.crt'),
      ...extra,
    },
    env: {
      CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN,
      CLEF_PROXY_TOKEN: WORKLOAD_TOKEN,
      CLEF_PROXY_CA_DIR: caDir,
      ...env,
    },
  });
  return { sp, ca: await readFile(join(caDir, 'ca.crt'), 'utf8') };
}

/** One intercepted request, one tunnel and one forwarded http:// request; returns their audit events. */
async function traffic(
  sp: ServeProcess,
  ca: string,
): Promise<{ inject: AuditEvent; tunnel: AuditEvent; forward: AuditEvent }> {
  const res = await httpsRequestThrough(sp.port, `localhost:${U}`, { path: '/i' }, { ca });
  expect(res.status).toBe(200);
  expect(res.json<{ headers: { authorization: string } }>().headers.authorization).toBe(`Bearer ${SECRET}`);
  const inject = await sp.waitForAudit((e) => e.event === 'request' && e.path === '/i');

  const t = await httpsRequestThrough(
    sp.port,
    `127.0.0.1:${U}`,
    { path: '/t', headers: { connection: 'keep-alive' } },
    { ca: FIXTURE_CA_PEM },
  );
  expect(t.status).toBe(200);
  const tunnel = await sp.waitForAudit((e) => e.event === 'tunnel');

  const s = await connectTo(sp.port);
  s.write(
    `GET http://127.0.0.1:${H}/f HTTP/1.1\r\nHost: 127.0.0.1:${H}\r\nProxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`,
  );
  expect((await readAll(s)).toString('latin1')).toMatch(/^HTTP\/1\.1 200 [\s\S]*plain-ok$/);
  const forward = await sp.waitForAudit((e) => e.event === 'request' && e.path === '/f');
  return { inject, tunnel, forward };
}

const via = (e: AuditEvent) => (e.event === 'deny' ? undefined : e.via_upstream_proxy);
const seen = () =>
  Object.fromEntries(Object.entries(chains).map(([k, c]) => [k, [...c.connects, ...c.httpRequests]]));

describe('chaining resolved by `serve` from config and environment', () => {
  it('HTTPS_PROXY beats https_proxy, HTTP_PROXY beats http_proxy and carries http://, NO_PROXY bypasses', async () => {
    const { sp, ca } = await serve({
      HTTPS_PROXY: chains.A.url,
      https_proxy: chains.B.url,
      HTTP_PROXY: chains.C.url,
      http_proxy: chains.D.url,
      NO_PROXY: `127.0.0.1:${U}`,
    });
    const ev = await traffic(sp, ca);
    expect(seen()).toEqual({ A: [`localhost:${U}`], B: [], C: [`127.0.0.1:${H}`], D: [], E: [] });
    expect([via(ev.inject), via(ev.tunnel), via(ev.forward)]).toEqual([true, false, true]);
  });

  it('lower-case https_proxy / no_proxy are used when the upper-case ones are unset', async () => {
    const { sp, ca } = await serve({ https_proxy: chains.B.url, no_proxy: 'localhost' });
    const ev = await traffic(sp, ca);
    // http:// has no proxy of its own (no HTTP_PROXY): it goes direct.
    expect(seen()).toEqual({ A: [], B: [`127.0.0.1:${U}`], C: [], D: [], E: [] });
    expect([via(ev.inject), via(ev.tunnel), via(ev.forward)]).toEqual([false, true, false]);
  });

  it('the config upstream_proxy wins over HTTPS_PROXY/HTTP_PROXY (with a warning) for every kind of traffic', async () => {
    const { sp, ca } = await serve(
      { HTTPS_PROXY: chains.A.url, HTTP_PROXY: chains.C.url, NO_PROXY: '*' },
      { upstream_proxy: { url: chains.E.url } },
    );
    const ev = await traffic(sp, ca);
    expect(seen()).toEqual({
      A: [],
      B: [],
      C: [],
      D: [],
      E: [`localhost:${U}`, `127.0.0.1:${U}`, `127.0.0.1:${H}`],
    });
    expect([via(ev.inject), via(ev.tunnel), via(ev.forward)]).toEqual([true, true, true]);
    const warn = await sp.waitForLog((r) => r.level === 40 && String(r.msg).includes('ignored'));
    expect(warn.msg).toMatch(/HTTPS_PROXY.*ignored.*upstream_proxy/);
  });
});
