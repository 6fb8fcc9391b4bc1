/**
 * Invariant: a credential never travels in plaintext (SPEC §6 Forward proxying: `http://` to a service host ⇒ 403
 * `https_required`; Upstream: "to the CONNECT host and port over `node:tls`"). The "upstreams" here are plain TCP
 * servers that record every byte: a forwarded `http://` request must never reach them, and an intercepted request
 * to a service host on a plaintext port reaches them only as a TLS ClientHello — never as HTTP, never with the secret.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth, connectTo, readAll, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';

const SECRET = 'plaintext-secret-a41c9e';

/** A plain TCP server that records what it receives and answers like an HTTP server would to garbage. */
interface Recorder {
  readonly port: number;
  connections: number;
  bytes: Buffer;
  close(): Promise<void>;
}

async function startRecorder(port = 0): Promise<Recorder> {
  const sockets = new Set<Socket>();
  const rec = { port: 0, connections: 0, bytes: Buffer.alloc(0) } as Recorder;
  const server: Server = createServer((socket) => {
    rec.connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.once('data', (chunk: Buffer) => {
      rec.bytes = Buffer.concat([rec.bytes, chunk]);
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  Object.assign(rec, {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  });
  return rec;
}

let serviceSide: Recorder;
let passSide: Recorder;
let proxy: TestProxy;

beforeAll(async () => {
  serviceSide = await startRecorder();
  passSide = await startRecorder();
  proxy = await startTestProxy({
    services: [
      {
        name: 'svc',
        hosts: [`api.upstream.test:${serviceSide.port}`],
        auth: { type: 'bearer', secret: 'K' },
      },
    ],
    secrets: { K: SECRET },
    // The same name on another port is listed as passthrough: that pair is forwarded, the service's pair is not.
    passthroughHosts: [`api.upstream.test:${passSide.port}`],
  });
});
afterAll(async () => {
  await proxy?.close();
  await serviceSide?.close();
  await passSide?.close();
});
afterEach(() => {
  for (const r of [serviceSide, passSide]) {
    r.connections = 0;
    r.bytes = Buffer.alloc(0);
  }
});

/** Send one absolute-form request on a fresh connection and return the raw answer. */
async function forwardRaw(url: string, host: string): Promise<string> {
  const socket = await connectTo(proxy.port);
  socket.write(
    `GET ${url} HTTP/1.1\r\nHost: ${host}\r\nProxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`,
  );
  return (await readAll(socket)).toString('latin1');
}

describe('never over plaintext: forward proxying to a service host', () => {
  it.each([
    ['the service host and port', (p: number) => `http://api.upstream.test:${p}/v1/x`],
    ['upper case and a trailing dot', (p: number) => `http://API.Upstream.TEST.:${p}/v1/x`],
    ['no port (80), a pair no entry lists: the name earns the hint', () => 'http://api.upstream.test/v1/x'],
  ])('%s: 403 https_required, the upstream never contacted', async (_label, url) => {
    const answer = await forwardRaw(url(serviceSide.port), 'api.upstream.test');
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer).toMatch(/\r\nX-Clef-Proxy-Error: https_required\r\n/i);
    expect(serviceSide.connections).toBe(0);
    expect(passSide.connections).toBe(0);
  });

  it('the same name on a port listed as passthrough is forwarded: a service host is the host:port pair (issue 12)', async () => {
    const answer = await forwardRaw(`http://api.upstream.test:${passSide.port}/p`, 'api.upstream.test');
    // The recorder answers 400 to whatever it gets: what matters is that the request reached it, without a secret.
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).not.toMatch(/X-Clef-Proxy-Error/i);
    expect(passSide.connections).toBe(1);
    expect(passSide.bytes.toString('latin1')).toMatch(/^GET \/p HTTP\/1\.1\r\n/);
    expect(passSide.bytes.toString('latin1')).not.toContain(SECRET);
    expect(serviceSide.connections).toBe(0);
  });

  it('an absolute-form https:// request is not forwarded either', async () => {
    const answer = await forwardRaw(`https://api.upstream.test:${serviceSide.port}/`, 'api.upstream.test');
    expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(serviceSide.connections).toBe(0);
  });
});

describe('never over plaintext: the upstream dial for a service host is always TLS', () => {
  it('a service host on a plaintext port gets a ClientHello, never HTTP or the secret; the client gets 502', async () => {
    const target = `api.upstream.test:${serviceSide.port}`;
    const res = await httpsRequestThrough(
      proxy.port,
      target,
      { path: '/v1/x' },
      { ca: proxy.proxy.caCertPem },
    );
    expect(res.status).toBe(502);
    expect(res.headers['x-clef-proxy-error']).toBe('upstream_error');
    expect(serviceSide.connections).toBeGreaterThan(0);
    // A TLS handshake record (content type 22, version 3.x), not an HTTP request line.
    expect(serviceSide.bytes[0]).toBe(0x16);
    expect(serviceSide.bytes[1]).toBe(0x03);
    expect(serviceSide.bytes.toString('latin1')).not.toContain('GET ');
    expect(serviceSide.bytes.toString('latin1')).not.toContain(SECRET);
  });

  it('a service host entry for port 80 does not make the proxy speak plaintext upstream', async (ctx) => {
    let port80: Recorder;
    try {
      port80 = await startRecorder(80);
    } catch (err) {
      // Binding port 80 needs privileges (or a free port); without them this case cannot run here.
      ctx.skip(`cannot listen on 127.0.0.1:80 (${(err as NodeJS.ErrnoException).code})`);
      return;
    }
    const p80 = await startTestProxy({
      services: [{ name: 'svc80', hosts: ['api.upstream.test:80'], auth: { type: 'bearer', secret: 'K' } }],
      secrets: { K: SECRET },
    });
    try {
      const res = await httpsRequestThrough(
        p80.port,
        'api.upstream.test:80',
        { path: '/' },
        { ca: p80.proxy.caCertPem },
      );
      expect(res.status).toBe(502);
      expect(port80.connections).toBeGreaterThan(0);
      expect(port80.bytes[0]).toBe(0x16);
      expect(port80.bytes.toString('latin1')).not.toContain('GET ');
      expect(port80.bytes.toString('latin1')).not.toContain(SECRET);
    } finally {
      await p80.close();
      await port80.close();
    }
  });
});
