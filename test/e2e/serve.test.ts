/**
 * `clef-proxy serve` end to end (SPEC §1, §6, §10): one real daemon against the fixture agent, an HTTPS upstream
 * and a plain HTTP upstream; the client is a raw socket or Node's TLS, the audit log is read from the child's
 * stdout and the operational log from its stderr.
 */
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent, DenyEvent, RequestEvent, TunnelEvent } from '../../src/audit/events.js';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { basicAuth, connectThrough, connectTo, readAll, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, type ServeProcess, spawnServe, stopAllServes } from '../helpers/serve.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { FIXTURE_CA_PEM, fixturePath, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const AGENT_TOKEN = 'e2e-agent-token-7f3a';
const SECRET = 'e2e-secret-value-91c2';

let dir: string;
let agent: FixtureAgent;
let up: TestUpstream;
let plain: Server;
let plainPort: number;
const plainSeen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
let serve: ServeProcess;
let proxyCa: string;
/** Units of work done so far: each must produce exactly one audit line (SPEC §10). */
let units = 0;

beforeAll(async () => {
  await cliBuild();
  dir = await mkdtemp(join(tmpdir(), 'clef-proxy-e2e-serve-'));
  up = await startUpstream();
  plain = createServer((req, res) => {
    plainSeen.push({ url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => res.end('plain-ok'));
  });
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
  plainPort = (plain.address() as AddressInfo).port;
  agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [
        { name: 'echo', hosts: [`localhost:${up.port}`], auth: { type: 'bearer', secret: 'ECHO_KEY' } },
      ],
      secrets: { ECHO_KEY: SECRET },
    },
  });
  serve = await spawnServe({
    config: {
      listen: '127.0.0.1:0',
      agent: { url: agent.url, ready_timeout_ms: 5000 },
      passthrough_hosts: [`127.0.0.1:${up.port}`, `127.0.0.1:${plainPort}`],
      upstream_ca_file: fixturePath('ca.crt'),
      audit: { sink: 'stdout' },
    },
    env: {
      CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN,
      CLEF_PROXY_TOKEN: WORKLOAD_TOKEN,
      CLEF_PROXY_CA_DIR: join(dir, 'ca'),
    },
  });
  proxyCa = await readFile(join(dir, 'ca', 'ca.crt'), 'utf8');
}, 120_000);

afterAll(async () => {
  await stopAllServes();
  await agent?.stop();
  await up?.close();
  plain?.closeAllConnections();
  await new Promise((r) => plain?.close(r));
  await rm(dir, { recursive: true, force: true });
  await removeCliBuild();
});

interface RawResponse {
  readonly status: number;
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

/** Parse a whole HTTP/1.1 response with a Content-Length body (what the proxy makes). */
function parseResponse(bytes: Buffer): RawResponse {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  expect(end).toBeGreaterThan(0);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map<string, string>();
  for (const l of lines)
    headers.set(l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim());
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
}

/** Send `head` on a fresh connection and read until the proxy closes it. */
async function exchange(head: string): Promise<{ res: RawResponse; client: string }> {
  units++;
  const socket = await connectTo(serve.port);
  const client = `127.0.0.1:${socket.localPort}`;
  socket.write(head);
  return { res: parseResponse(await readAll(socket)), client };
}

function auditFrom(client: string, event: AuditEvent['event']): Promise<AuditEvent> {
  return serve.waitForAudit((e) => e.client === client && e.event === event);
}

/** The §6 shape of a proxy-made error response. */
function expectProxyError(res: RawResponse, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/json');
  expect(res.headers.get('x-clef-proxy-error')).toBe(code);
  const body = JSON.parse(res.body) as { error: string; message: string };
  expect(body.error).toBe(code);
  expect(body.message).toEqual(expect.any(String));
}

describe('clef-proxy serve', () => {
  it('logs exactly one "listening" line with address and port', () => {
    const listening = serve.stderrLines.filter((l) => l.includes('"msg":"listening"'));
    expect(listening).toHaveLength(1);
    expect(JSON.parse(listening[0]!)).toMatchObject({ address: '127.0.0.1', port: serve.port });
    expect(serve.port).toBeGreaterThan(0);
  });

  it.each([
    ['missing', null],
    ['malformed: not base64', 'Basic !!!not-base64!!!'],
    ['malformed: no colon', `Basic ${Buffer.from(WORKLOAD_TOKEN).toString('base64')}`],
    ['malformed: another scheme', `Bearer ${WORKLOAD_TOKEN}`],
    ['wrong token', basicAuth('not-the-token')],
  ])('407 for a %s Proxy-Authorization, audited as a deny with host and port', async (_name, auth) => {
    const target = `127.0.0.1:${up.port}`;
    const authLine = auth === null ? '' : `Proxy-Authorization: ${auth}\r\n`;
    const { res, client } = await exchange(
      `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${authLine}\r\n`,
    );
    expectProxyError(res, 407, 'proxy_auth_required');
    expect(res.headers.get('proxy-authenticate')).toBe('Basic realm="clef-proxy"');
    const ev = (await auditFrom(client, 'deny')) as DenyEvent;
    expect(ev).toMatchObject({ decision: 'deny', reason: 'proxy_auth_required', status: 407 });
    expect(ev).toMatchObject({ host: '127.0.0.1', port: up.port, schema_version: 1 });
  });

  it('403 host_not_allowed for a host no entry names', async () => {
    const head = `CONNECT example.invalid:443 HTTP/1.1\r\nHost: example.invalid:443\r\nProxy-Authorization: ${basicAuth()}\r\n\r\n`;
    const { res, client } = await exchange(head);
    expectProxyError(res, 403, 'host_not_allowed');
    expect(await auditFrom(client, 'deny')).toMatchObject({
      reason: 'host_not_allowed',
      status: 403,
      host: 'example.invalid',
      port: 443,
    });
  });

  it("passthrough: the client's TLS session reaches the upstream, which presents its own certificate", async () => {
    units++;
    const { socket, status, rest } = await connectThrough(serve.port, `127.0.0.1:${up.port}`);
    expect({ status, rest: rest.length }).toEqual({ status: 200, rest: 0 });
    const client = `127.0.0.1:${socket.localPort}`;
    const headBytes = socket.bytesWritten;
    const tls = tlsConnect({ socket, servername: 'localhost', ca: FIXTURE_CA_PEM });
    await once(tls, 'secureConnect');
    // Verified against the fixture CA, not the proxy's: the proxy did not terminate this session.
    expect(tls.authorized).toBe(true);
    const upstreamCert = new X509Certificate(await readFile(fixturePath('upstream.crt')));
    expect(tls.getPeerX509Certificate()?.fingerprint256).toBe(upstreamCert.fingerprint256);
    tls.write('GET /through-the-tunnel HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    const answer = (await readAll(tls)).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('"url":"/through-the-tunnel"');
    expect(up.received.at(-1)).toMatchObject({ url: '/through-the-tunnel', servername: 'localhost' });
    expect(up.received.at(-1)!.headers.authorization).toBeUndefined();

    const ev = (await auditFrom(client, 'tunnel')) as TunnelEvent;
    expect(ev).toMatchObject({
      decision: 'tunnel',
      host: '127.0.0.1',
      port: up.port,
      via_upstream_proxy: false,
    });
    // Every byte after the CONNECT head / the 200 line, each way.
    expect(ev.bytes_in).toBe(socket.bytesWritten - headBytes);
    expect(ev.bytes_out).toBe(socket.bytesRead - 'HTTP/1.1 200 Connection Established\r\n\r\n'.length);
    expect(ev.bytes_out).toBeGreaterThan(500); // at least the upstream's certificate
    expect(ev.duration_ms).toBeGreaterThan(0);
  });

  it('intercepts a service host with a leaf from its CA and injects the credential', async () => {
    const target = `localhost:${up.port}`;
    units++;
    const res = await httpsRequestThrough(serve.port, target, { path: '/svc?q=1' }, { ca: proxyCa });
    expect(res.status).toBe(200);
    expect(up.received.at(-1)).toMatchObject({ url: '/svc?q=1' });
    expect(up.received.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
    const ev = (await serve.waitForAudit((e) => e.event === 'request' && e.path === '/svc')) as RequestEvent;
    expect(ev).toMatchObject({ decision: 'inject', service: 'echo', secret_ref: 'ECHO_KEY', status: 200 });
  });

  describe('forward proxying of http:// requests', () => {
    const get = (url: string, host: string, extra = `Proxy-Authorization: ${basicAuth()}\r\n`) =>
      exchange(`GET ${url} HTTP/1.1\r\nHost: ${host}\r\n${extra}Connection: close\r\n\r\n`);

    it('to a passthrough host: forwarded without Proxy-Authorization or hop-by-hop headers', async () => {
      const host = `127.0.0.1:${plainPort}`;
      const extra =
        `Proxy-Authorization: ${basicAuth()}\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n` +
        'Proxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: websocket\r\nX-End-To-End: kept\r\n';
      const { res, client } = await get(`http://${host}/x?q=1`, host, extra);
      expect(res.status).toBe(200);
      expect(res.body).toBe('plain-ok');
      const seen = plainSeen.at(-1)!;
      expect(seen.url).toBe('/x?q=1');
      expect(seen.headers['x-end-to-end']).toBe('kept');
      for (const name of ['proxy-authorization', 'x-hop', 'keep-alive', 'proxy-connection', 'te', 'upgrade'])
        expect(seen.headers[name], name).toBeUndefined();
      expect(seen.headers.connection ?? '').not.toMatch(/x-hop|close/i);
      expect(await auditFrom(client, 'request')).toMatchObject({
        decision: 'forward',
        method: 'GET',
        path: '/x',
        status: 200,
        host: '127.0.0.1',
        port: plainPort,
      });
    });

    it.each([
      ['a service host', 'https_required', 'localhost'],
      ['any other host', 'host_not_allowed', 'example.invalid'],
    ])('to %s: 403 %s', async (_name, code, host) => {
      const { res, client } = await get(`http://${host}/x`, host);
      expectProxyError(res, 403, code);
      expect(await auditFrom(client, 'request')).toMatchObject({
        decision: 'deny',
        reason: code,
        status: 403,
      });
    });

    it('without Proxy-Authorization: 407', async () => {
      const host = `127.0.0.1:${plainPort}`;
      const before = plainSeen.length;
      const { res } = await get(`http://${host}/x`, host, '');
      expectProxyError(res, 407, 'proxy_auth_required');
      expect(res.headers.get('proxy-authenticate')).toBe('Basic realm="clef-proxy"');
      expect(plainSeen).toHaveLength(before);
    });
  });

  it('SIGTERM: exit 0; stdout held nothing but audit events; no token or secret in either stream', async () => {
    serve.kill('SIGTERM');
    expect(await serve.exit).toEqual({ code: 0, signal: null });
    expect(serve.stdoutLines).toHaveLength(units);
    for (const line of serve.stdoutLines) {
      const ev = JSON.parse(line) as AuditEvent;
      expect(ev.schema_version).toBe(1);
      expect(['request', 'tunnel', 'deny']).toContain(ev.event);
      expect(ev.conn_id).toMatch(/^c\d+$/);
      expect(ev.client).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(Number.isNaN(Date.parse(ev.ts))).toBe(false);
    }
    for (const line of serve.stderrLines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(serve.stderrLines.filter((l) => l.includes('"msg":"listening"'))).toHaveLength(1);
    const all = serve.stdoutLines.join('\n') + serve.stderrLines.join('\n');
    for (const secret of [SECRET, WORKLOAD_TOKEN, AGENT_TOKEN, 'q=1']) expect(all).not.toContain(secret);
  });
});
