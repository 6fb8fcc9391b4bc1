/**
 * Per-workload identity (issue 12) on real sockets, in-process with a static source that serves identities: the
 * `Proxy-Authorization` username is the identity, each identity has its own token, a service's `identities` list
 * admits by name or glob (403 `identity_not_allowed` otherwise), and every audit event carries the identity.
 * Clients: curl (`-x http://ci-bot:token@…`), Python `requests`, undici's ProxyAgent, and raw sockets.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StaticSource } from '../../../src/agent/static-source.js';
import { createStaticSource } from '../../../src/agent/static-source.js';
import type { DenyEvent, RequestEvent, TunnelEvent } from '../../../src/audit/events.js';
import { basicAuth, connectThrough, connectTo, startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { httpsRequestThrough } from '../../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.js';

const hex = (t: string) => createHash('sha256').update(t).digest('hex');
const TOKENS = { 'ci-bot': 'ci-bot-token-1b2c', 'agent-7': 'agent-seven-9f8e', 'agent-8': 'agent-8-x' };

const curlMissing = spawnSync('curl', ['--version'], { stdio: 'ignore' }).error !== undefined;
const pythonMissing = spawnSync('python3', ['-c', 'import requests'], { stdio: 'ignore' }).status !== 0;
if (curlMissing) console.log('identity clients: curl not found; its cases are skipped');
if (pythonMissing) console.log('identity clients: python3 with requests not found; its cases are skipped');

let up: TestUpstream;
let px: TestProxy;
let source: StaticSource;
let tmp: string;
let caFile: string;
let target: string;

beforeAll(async () => {
  up = await startUpstream();
  target = `api.upstream.test:${up.port}`;
  source = createStaticSource({
    services: [
      {
        name: 'ci-only',
        hosts: [target],
        path_prefix: '/ci',
        auth: { type: 'bearer', secret: 'CI_KEY' },
        identities: ['ci-bot'],
      },
      {
        name: 'agents',
        hosts: [target],
        path_prefix: '/agents',
        auth: { type: 'bearer', secret: 'AGENT_KEY' },
        identities: ['agent-*'],
      },
      { name: 'open', hosts: [target], path_prefix: '/open', auth: { type: 'bearer', secret: 'OPEN_KEY' } },
    ],
    secrets: { CI_KEY: 'ci-secret', AGENT_KEY: 'agent-secret', OPEN_KEY: 'open-secret' },
    identities: Object.entries(TOKENS).map(([name, token]) => ({ name, token_sha256: hex(token) })),
  });
  px = await startTestProxy({ source, passthroughHosts: [`other.upstream.test:${up.port}`] });
  tmp = await mkdtemp(join(tmpdir(), 'clef-identity-'));
  caFile = join(tmp, 'ca.pem');
  await writeFile(caFile, px.proxy.caCertPem);
});

afterAll(async () => {
  await px?.close();
  await up?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function run(cmd: string, args: string[], input?: string) {
  // Without the caller's proxy variables: only the explicit proxy decides the route.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input ?? '');
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
}

/** The request event for `path` (waits for it). */
async function eventFor(path: string): Promise<RequestEvent> {
  for (let i = 0; i < 200; i++) {
    const e = px.events.find((ev): ev is RequestEvent => ev.event === 'request' && ev.path === path);
    if (e) return e;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no request event for ${path}: ${JSON.stringify(px.events)}`);
}

describe.skipIf(curlMissing)('curl -x http://identity:token@…', () => {
  const curl = (user: string, token: string, path: string) =>
    run('curl', [
      // The identity rules are the same on both protocols; HTTP/1.1 keeps the status line this test reads.
      '--http1.1',
      '--silent',
      '--show-error',
      '--include',
      '--suppress-connect-headers',
      '-x',
      `http://${user}:${token}@127.0.0.1:${px.port}`,
      '--cacert',
      caFile,
      `https://${target}${path}`,
    ]);

  it('the listed identity gets its credential; the audit event names it', async () => {
    const out = await curl('ci-bot', TOKENS['ci-bot'], '/ci/build');
    expect(out.stdout).toMatch(/^HTTP\/(1\.1|2) 200 /);
    const seen = up.received.find((r) => r.url === '/ci/build');
    expect(seen?.headers.authorization).toBe('Bearer ci-secret');
    expect(seen?.headers['proxy-authorization']).toBeUndefined();
    const e = await eventFor('/ci/build');
    expect([e.identity, e.service, e.decision, e.status]).toEqual(['ci-bot', 'ci-only', 'inject', 200]);
  });

  it('an identity the service does not list gets 403 identity_not_allowed, nothing goes upstream', async () => {
    const before = up.received.length;
    const out = await curl('agent-7', TOKENS['agent-7'], '/ci/deploy');
    const [head, body] = out.stdout.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/(1\.1|2) 403 /);
    expect(head).toMatch(/\r\nX-Clef-Proxy-Error: identity_not_allowed(\r\n|$)/i);
    expect(JSON.parse(body!)).toMatchObject({ error: 'identity_not_allowed' });
    expect(up.received.length).toBe(before);
    const e = await eventFor('/ci/deploy');
    expect([e.identity, e.service, e.decision, e.reason, e.status]).toEqual([
      'agent-7',
      'ci-only',
      'deny',
      'identity_not_allowed',
      403,
    ]);
  });

  it('another identity’s token is refused at the CONNECT with 407', async () => {
    const out = await curl('ci-bot', TOKENS['agent-7'], '/ci/x');
    expect(out.code).not.toBe(0);
    expect(`${out.stdout}${out.stderr}`).toMatch(/407/);
  });
});

describe.skipIf(pythonMissing)('Python requests', () => {
  const script = `
import json, sys, requests
a = json.load(sys.stdin)
proxies = {"https": a["proxy"]}
out = []
for path in a["paths"]:
    r = requests.get(a["base"] + path, proxies=proxies, verify=a["ca"], timeout=30)
    out.append([path, r.status_code, r.headers.get("X-Clef-Proxy-Error")])
print(json.dumps(out))
`;
  const python = (user: string, token: string, paths: string[]) =>
    run(
      'python3',
      ['-c', script],
      JSON.stringify({
        proxy: `http://${user}:${token}@127.0.0.1:${px.port}`,
        ca: caFile,
        base: `https://${target}`,
        paths,
      }),
    );

  it('a glob entry (`agent-*`) admits agent-8; a service without a list admits it too', async () => {
    const out = await python('agent-8', TOKENS['agent-8'], ['/agents/py', '/open/py', '/ci/py']);
    expect(out.stderr).toBe('');
    expect(JSON.parse(out.stdout)).toEqual([
      ['/agents/py', 200, null],
      ['/open/py', 200, null],
      ['/ci/py', 403, 'identity_not_allowed'],
    ]);
    expect(up.received.find((r) => r.url === '/agents/py')?.headers.authorization).toBe(
      'Bearer agent-secret',
    );
    for (const path of ['/agents/py', '/open/py', '/ci/py'])
      expect((await eventFor(path)).identity).toBe('agent-8');
  });
});

describe('undici ProxyAgent', () => {
  it('authenticates as ci-bot with its own token', async () => {
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${px.port}`,
      token: basicAuth(TOKENS['ci-bot'], 'ci-bot'),
      requestTls: { ca: px.proxy.caCertPem },
    });
    try {
      const res = await undiciRequest(`https://${target}/ci/undici`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      const denied = await undiciRequest(`https://${target}/agents/undici`, { dispatcher: agent });
      expect(denied.statusCode).toBe(403);
      expect(denied.headers['x-clef-proxy-error']).toBe('identity_not_allowed');
      await denied.body.text();
    } finally {
      await agent.close();
    }
    expect((await eventFor('/ci/undici')).identity).toBe('ci-bot');
  });
});

describe('raw sockets', () => {
  it('407 for an unknown identity and for the shared workload token; the deny event has no identity', async () => {
    const n = px.events.length;
    for (const auth of [basicAuth(TOKENS['ci-bot'], 'nobody'), basicAuth()]) {
      const r = await connectThrough(px.port, target, auth);
      expect(r.status).toBe(407);
      r.socket.destroy();
    }
    const events = (await px.waitForEvents(n + 2)).slice(n) as DenyEvent[];
    expect(events.map((e) => [e.event, e.reason, e.identity])).toEqual([
      ['deny', 'proxy_auth_required', null],
      ['deny', 'proxy_auth_required', null],
    ]);
  });

  it('a tunnel and a refused CONNECT carry the identity', async () => {
    const n = px.events.length;
    const tunnel = await connectThrough(
      px.port,
      `other.upstream.test:${up.port}`,
      basicAuth(TOKENS['agent-7'], 'agent-7'),
    );
    expect(tunnel.status).toBe(200);
    tunnel.socket.destroy();
    const refused = await connectThrough(
      px.port,
      'elsewhere.test:443',
      basicAuth(TOKENS['ci-bot'], 'ci-bot'),
    );
    expect(refused.status).toBe(403);
    refused.socket.destroy();
    const events = (await px.waitForEvents(n + 2)).slice(n) as Array<TunnelEvent | DenyEvent>;
    const byKind = Object.fromEntries(events.map((e) => [e.event, e.identity]));
    expect(byKind).toEqual({ tunnel: 'agent-7', deny: 'ci-bot' });
  });

  it('a forwarded http:// request carries the identity of its own Proxy-Authorization', async () => {
    const socket = await connectTo(px.port);
    const head = (path: string, auth: string) =>
      `GET http://other.upstream.test:${up.port}${path} HTTP/1.1\r\nHost: other.upstream.test:${up.port}\r\n` +
      `Proxy-Authorization: ${auth}\r\n\r\n`;
    socket.write(head('/plain-1', basicAuth(TOKENS['agent-7'], 'agent-7')));
    expect((await eventFor('/plain-1')).identity).toBe('agent-7');
    socket.destroy();
    const other = await connectTo(px.port);
    other.write(head('/plain-2', basicAuth('wrong', 'agent-7')));
    const denied = await eventFor('/plain-2');
    expect([denied.identity, denied.reason, denied.status]).toEqual([null, 'proxy_auth_required', 407]);
    other.destroy();
  });

  it('identities are per connection: every request in one tunnel runs as its CONNECT identity', async () => {
    const opts = { ca: px.proxy.caCertPem, auth: basicAuth(TOKENS['agent-7'], 'agent-7') };
    const res = await httpsRequestThrough(px.port, target, { path: '/agents/raw' }, opts);
    expect(res.status).toBe(200);
    expect((await eventFor('/agents/raw')).identity).toBe('agent-7');
  });

  it('without identities in the source, every username shares the workload token (and names itself)', async () => {
    source.setIdentities(undefined);
    try {
      const opts = { ca: px.proxy.caCertPem, auth: basicAuth(undefined, 'ci-bot') };
      const res = await httpsRequestThrough(px.port, target, { path: '/ci/shared' }, opts);
      expect(res.status).toBe(200);
      expect((await eventFor('/ci/shared')).identity).toBe('ci-bot');
      const old = await connectThrough(px.port, target, basicAuth(TOKENS['ci-bot'], 'ci-bot'));
      expect(old.status).toBe(407);
      old.socket.destroy();
    } finally {
      source.setIdentities(
        Object.entries(TOKENS).map(([name, token]) => ({ name, token_sha256: hex(token) })),
      );
    }
  });
});
