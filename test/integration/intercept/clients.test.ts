/**
 * Real HTTP clients through interception, each configured the way a workload would be (SPEC §6): undici's
 * ProxyAgent, node:https over a CONNECT socket, and curl (skipped, with the reason printed, where it is absent).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request as undiciRequest } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { basicAuth, startTestProxy, type TestProxy, WORKLOAD_TOKEN } from '../../helpers/proxy.js';
import { readBody, tlsThrough } from '../../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.js';

const curlMissing = spawnSync('curl', ['--version'], { stdio: 'ignore' }).error !== undefined;
if (curlMissing) console.log('clients.test.ts: curl not found on PATH; the curl cases are skipped');

let upstream: TestUpstream | undefined;
let proxy: TestProxy | undefined;
let tmp: string | undefined;

afterEach(async () => {
  await proxy?.close();
  await upstream?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  proxy = undefined;
  upstream = undefined;
  tmp = undefined;
});

async function setup() {
  upstream = await startUpstream();
  const target = `api.upstream.test:${upstream.port}`;
  proxy = await startTestProxy({
    services: [
      { name: 'svc', hosts: [target], path_prefix: '/api', auth: { type: 'bearer', secret: 'KEY' } },
    ],
    secrets: { KEY: 'client-secret' },
  });
  return { target, up: upstream, px: proxy, ca: proxy.proxy.caCertPem };
}

function authorizations(rawHeaders: readonly string[]): string[] {
  return rawHeaders.filter((_v, i) => i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === 'authorization');
}

describe('undici ProxyAgent', () => {
  it('GET and POST are injected; a proxy error keeps its code and JSON body', async () => {
    const { target, up, px, ca } = await setup();
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${px.port}`,
      token: basicAuth(),
      requestTls: { ca },
    });
    try {
      const get = await undiciRequest(`https://${target}/api/a?x=1`, { dispatcher: agent });
      expect(get.statusCode).toBe(200);
      expect(await get.body.json()).toMatchObject({ url: '/api/a?x=1' });
      const post = await undiciRequest(`https://${target}/api/b`, {
        dispatcher: agent,
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: 'Bearer not-this' },
        body: 'hello undici',
      });
      expect(post.statusCode).toBe(200);
      await post.body.text();
      const denied = await undiciRequest(`https://${target}/elsewhere`, { dispatcher: agent });
      expect(denied.statusCode).toBe(403);
      expect(denied.headers['x-clef-proxy-error']).toBe('no_matching_service');
      expect(await denied.body.json()).toMatchObject({ error: 'no_matching_service' });
    } finally {
      await agent.close();
    }
    expect(up.received.map((r) => [r.method, r.url])).toEqual([
      ['GET', '/api/a?x=1'],
      ['POST', '/api/b'],
    ]);
    for (const r of up.received) expect(authorizations(r.rawHeaders)).toEqual(['Bearer client-secret']);
    expect(up.received[1]!.body.toString()).toBe('hello undici');
    const events = (await px.waitForEvents(3)) as RequestEvent[];
    expect(events.map((e) => [e.decision, e.status])).toEqual([
      ['inject', 200],
      ['inject', 200],
      ['deny', 403],
    ]);
  });
});

describe('node:https over a CONNECT socket', () => {
  it('a keep-alive https.Agent whose createConnection returns the tunnelled TLS socket', async () => {
    const { target, up, px, ca } = await setup();
    const socket = await tlsThrough(px.port, target, { ca });
    // Every request of this agent rides the one tunnel: it hands out the same socket, and keep-alive reuses it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agent.createConnection = () => socket;
    try {
      for (const path of ['/api/1', '/api/2', '/api/3']) {
        const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
          const req = httpsRequest({ agent, host: 'api.upstream.test', port: up.port, path }, resolve);
          req.on('error', reject);
          req.end();
        });
        expect(res.statusCode).toBe(200);
        expect(JSON.parse((await readBody(res)).toString())).toMatchObject({ url: path });
      }
    } finally {
      agent.destroy();
      socket.destroy();
    }
    expect(up.received).toHaveLength(3);
    for (const r of up.received) expect(r.headers.authorization).toBe('Bearer client-secret');
    const events = (await px.waitForEvents(3)) as RequestEvent[];
    expect(new Set(events.map((e) => e.conn_id)).size).toBe(1);
  });
});

function runCurl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // Without the caller's proxy variables: only --proxy decides the route.
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const child = spawn('curl', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe.skipIf(curlMissing)('curl', () => {
  async function curlSetup() {
    const s = await setup();
    tmp = await mkdtemp(join(tmpdir(), 'clef-intercept-curl-'));
    const caFile = join(tmp, 'proxy-ca.pem');
    await writeFile(caFile, s.ca);
    const base = [
      '--silent',
      '--show-error',
      '--http1.1',
      // --include would otherwise show the proxy's 200 Connection Established first.
      '--suppress-connect-headers',
      '--proxy',
      `http://127.0.0.1:${s.px.port}`,
      '--proxy-user',
      `workload:${WORKLOAD_TOKEN}`,
      '--cacert',
      caFile,
    ];
    return { ...s, base };
  }

  it('a POST through curl is injected and its body arrives', async () => {
    const { target, up, base } = await curlSetup();
    const out = await runCurl([
      ...base,
      '-H',
      'Authorization: Bearer curl-own',
      '--data-binary',
      'curl body',
      `https://${target}/api/curl?q=1`,
    ]);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ method: 'POST', url: '/api/curl?q=1' });
    expect(authorizations(up.received[0]!.rawHeaders)).toEqual(['Bearer client-secret']);
    expect(up.received[0]!.body.toString()).toBe('curl body');
  });

  it('curl sees a proxy error as status, X-Clef-Proxy-Error and the JSON body', async () => {
    const { target, up, base } = await curlSetup();
    const out = await runCurl([...base, '--include', `https://${target}/nope`]);
    expect(out.code).toBe(0);
    const [head, body] = out.stdout.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 403 /);
    expect(head).toMatch(/\r\nX-Clef-Proxy-Error: no_matching_service(\r\n|$)/i);
    expect(JSON.parse(body!)).toMatchObject({ error: 'no_matching_service' });
    expect(up.connections).toBe(0);
  });
});
