/**
 * Wildcard hosts on real sockets (issue 12): curl, Python `requests` and undici route through a `*.upstream.test`
 * service, an exact service beats it, an exact passthrough entry carves a host out of it, the apex is refused, the
 * leaf names the exact CONNECT host (never a wildcard), and plain `http://` follows the same precedence.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/events.js';
import { curlAvailable, pythonRequest, pythonRequestsAvailable, runCurl } from '../../helpers/clients.js';
import {
  basicAuth,
  connectThrough,
  connectTo,
  readAll,
  startTestProxy,
  type TestProxy,
  WORKLOAD_TOKEN,
} from '../../helpers/proxy.js';
import { tlsThrough } from '../../helpers/tls-client.js';
import { FIXTURE_CA_PEM, startUpstream, type TestUpstream } from '../../helpers/upstream.js';

let up: TestUpstream;
let px: TestProxy;
let plain: Server;
let plainSeen: string[];
let tmp: string;
let caFile: string;
let U: number;
let P: number;

beforeAll(async () => {
  up = await startUpstream();
  U = up.port;
  plainSeen = [];
  plain = createServer((req, res) => {
    plainSeen.push(`${req.headers.host} ${req.url} ${req.headers.authorization ?? '-'}`);
    res.end('plain ok');
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', () => resolve()));
  P = (plain.address() as AddressInfo).port;
  px = await startTestProxy({
    services: [
      {
        name: 'wild',
        hosts: [`*.upstream.test:${U}`, `*.plain.test:${P}`],
        auth: { type: 'bearer', secret: 'W' },
      },
      {
        name: 'exact',
        hosts: [`api.upstream.test:${U}`],
        path_prefix: '/exact',
        auth: { type: 'bearer', secret: 'E' },
      },
    ],
    secrets: { W: 'wild-secret', E: 'exact-secret' },
    // An exact passthrough entry beats the wildcard service; a wildcard passthrough covers the plain-HTTP names.
    passthroughHosts: [`other.upstream.test:${U}`, `open.plain.test:${P}`, `*.free.test:${P}`],
  });
  tmp = await mkdtemp(join(tmpdir(), 'clef-wildcard-'));
  caFile = join(tmp, 'proxy-ca.pem');
  await writeFile(caFile, px.proxy.caCertPem);
});

afterAll(async () => {
  await px?.close();
  await up?.close();
  await new Promise<void>((resolve) => (plain ? plain.close(() => resolve()) : resolve()));
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function authOf(i: number): string | undefined {
  return up.received[i]?.headers.authorization;
}

function curlBase(): string[] {
  return [
    '--silent',
    '--show-error',
    '--http1.1',
    '--suppress-connect-headers',
    '--proxy',
    `http://127.0.0.1:${px.port}`,
    '--proxy-user',
    `workload:${WORKLOAD_TOKEN}`,
    '--cacert',
    caFile,
  ];
}

describe.skipIf(!curlAvailable)('curl', () => {
  it('a name under the wildcard is injected by the wildcard service', async () => {
    const before = up.received.length;
    const out = await runCurl([...curlBase(), `https://api.upstream.test:${U}/any`]);
    expect([out.code, out.stderr]).toEqual([0, '']);
    expect(JSON.parse(out.stdout)).toMatchObject({ url: '/any' });
    expect(authOf(before)).toBe('Bearer wild-secret');
  });

  it('the exact service beats the wildcard where its path matches', async () => {
    const before = up.received.length;
    const out = await runCurl([...curlBase(), `https://api.upstream.test:${U}/exact/1`]);
    expect(out.code).toBe(0);
    expect(authOf(before)).toBe('Bearer exact-secret');
  });

  it('the apex is not covered: CONNECT refused with host_not_allowed', async () => {
    const out = await runCurl([...curlBase(), '--include', `https://upstream.test:${U}/`]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/403/);
  });
});

describe.skipIf(!pythonRequestsAvailable)('Python requests', () => {
  it('routes through the wildcard service and replaces the client’s own Authorization', async () => {
    const before = up.received.length;
    const answer = await pythonRequest({
      url: `https://api.upstream.test:${U}/py`,
      proxy: px.urlWithAuth,
      ca: caFile,
      headers: { Authorization: 'Bearer mine' },
    });
    expect(answer.status).toBe(200);
    expect(authOf(before)).toBe('Bearer wild-secret');
  });

  it('a look-alike name is refused at CONNECT (requests raises ProxyError)', async () => {
    const answer = await pythonRequest({
      url: `https://xupstream.test:${U}/`,
      proxy: px.urlWithAuth,
      ca: caFile,
    });
    expect(answer.error).toBe('ProxyError');
  });
});

describe('undici ProxyAgent', () => {
  it('an exact passthrough entry carves its host out of the wildcard service: tunnelled, nothing injected', async () => {
    const before = up.received.length;
    // Tunnelled blind: the client sees the upstream's own certificate, so it trusts the fixture CA, not the proxy's.
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${px.port}`,
      token: basicAuth(),
      requestTls: { ca: FIXTURE_CA_PEM },
    });
    try {
      const res = await undiciRequest(`https://other.upstream.test:${U}/t`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      await res.body.text();
    } finally {
      await agent.close();
    }
    expect(authOf(before)).toBeUndefined();
    await waitFor((e) => e.event === 'tunnel' && e.host === 'other.upstream.test');
  });

  it('a deeper name under the wildcard is intercepted with the proxy CA', async () => {
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${px.port}`,
      token: basicAuth(),
      requestTls: { ca: px.proxy.caCertPem },
    });
    try {
      // The upstream certificate only names api/other.upstream.test, so upstream TLS fails: 502 from the proxy
      // proves the request was intercepted (our leaf for the deeper name was accepted) and routed to the upstream.
      const res = await undiciRequest(`https://a.b.upstream.test:${U}/deep`, { dispatcher: agent });
      expect(res.statusCode).toBe(502);
      expect(res.headers['x-clef-proxy-error']).toBe('upstream_tls_error');
      await res.body.text();
    } finally {
      await agent.close();
    }
  });
});

describe('leaves', () => {
  it('are minted for the exact CONNECT name, never as a wildcard', async () => {
    const tls = await tlsThrough(px.port, `api.upstream.test:${U}`, { ca: px.proxy.caCertPem });
    try {
      const cert = tls.getPeerCertificate();
      expect(cert.subjectaltname).toBe('DNS:api.upstream.test');
      expect(JSON.stringify(cert.subject)).not.toContain('*');
    } finally {
      tls.destroy();
    }
  });
});

describe('plain http:// follows the same precedence', () => {
  async function forward(url: string, host: string): Promise<string> {
    const s = await connectTo(px.port);
    s.write(
      `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`,
    );
    return (await readAll(s)).toString('latin1');
  }

  it.each([
    ['a pair the wildcard service covers', 'svc.plain.test', 'https_required'],
    ['an exact passthrough pair inside the wildcard', 'open.plain.test', 'forwarded'],
    ['a wildcard passthrough pair', 'a.free.test', 'forwarded'],
    ['a name no entry covers', 'nobody.test', 'host_not_allowed'],
  ])('%s (%s)', async (_l, name, expected) => {
    const seen = plainSeen.length;
    const answer = await forward(`http://${name}:${P}/p`, `${name}:${P}`);
    if (expected === 'forwarded') {
      expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      expect(plainSeen.slice(seen)).toEqual([`${name}:${P} /p -`]);
    } else {
      expect(answer).toMatch(/^HTTP\/1\.1 403 /);
      expect(answer).toMatch(new RegExp(`X-Clef-Proxy-Error: ${expected}`, 'i'));
      expect(plainSeen.length).toBe(seen);
    }
  });
});

describe('CONNECT decisions are audited', () => {
  it('the apex is a deny event with host_not_allowed', async () => {
    const t = await connectThrough(px.port, `upstream.test:${U}`, basicAuth());
    t.socket.destroy();
    expect(t.status).toBe(403);
    await waitFor((e) => e.event === 'deny' && e.host === 'upstream.test' && e.reason === 'host_not_allowed');
  });
});

async function waitFor(pred: (e: AuditEvent & Record<string, unknown>) => boolean): Promise<void> {
  for (let n = 1; ; n++) {
    const events = await px.waitForEvents(n, 10_000);
    if (events.some((e) => pred(e as AuditEvent & Record<string, unknown>))) return;
  }
}
