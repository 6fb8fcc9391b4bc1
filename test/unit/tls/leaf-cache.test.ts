import { X509Certificate } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { connect, type SecureContext, TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { generateCa } from '../../../src/tls/ca-generate.js';
import { type CaMaterial, validateCaPair } from '../../../src/tls/ca-validate.js';
import { createLeafCache, REMINT_MARGIN_MS } from '../../../src/tls/leaf-cache.js';

const DAY = 24 * 60 * 60 * 1000;

async function makeCa(hostname = 'cache-test'): Promise<CaMaterial> {
  const pems = await generateCa({ hostname });
  const check = await validateCaPair(pems.certPem, pems.keyPem);
  if (!check.ok) throw new Error(check.why);
  return check.ca;
}

async function resolved(v: SecureContext | Promise<SecureContext>): Promise<SecureContext> {
  return v instanceof Promise ? await v : v;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A loopback TLS server that terminates every connection with `context`, as tls/intercept.ts does. */
async function serveWith(context: SecureContext): Promise<number> {
  const server = createServer((raw) => {
    raw.on('error', () => undefined);
    const tls = new TLSSocket(raw, { isServer: true, secureContext: context });
    tls.on('error', () => undefined);
    tls.on('secure', () => tls.end('hello'));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

function handshake(port: number, servername: string | undefined, caPem: string) {
  return new Promise<{ authorized: boolean; error?: string; peer?: X509Certificate; data: string }>(
    (resolve) => {
      const sock = connect({ host: '127.0.0.1', port, ca: caPem, ...(servername ? { servername } : {}) });
      let data = '';
      sock.on('data', (d: Buffer) => {
        data += d.toString();
      });
      sock.on('end', () => {
        resolve({
          authorized: sock.authorized,
          peer: new X509Certificate(sock.getPeerX509Certificate()!.raw),
          data,
        });
      });
      sock.on('error', (err) =>
        resolve({ authorized: false, error: (err as NodeJS.ErrnoException).code, data }),
      );
    },
  );
}

describe('createLeafCache', async () => {
  const ca = await makeCa();

  it.each([
    ['example.com', 'name', 'example.com'],
    ['127.0.0.1', 'ipv4', undefined],
  ] as const)('a client trusting only the CA completes a TLS handshake for %s', async (host, kind, sni) => {
    const cache = createLeafCache({ ca, size: 8 });
    const port = await serveWith(await resolved(cache.get(host, kind)));
    const result = await handshake(port, sni, ca.certPem);
    expect(result.error).toBeUndefined();
    expect(result.authorized).toBe(true);
    expect(result.data).toBe('hello');
    expect(result.peer?.checkIssued(ca.cert)).toBe(true);
  });

  it('a client trusting another CA refuses the leaf', async () => {
    const cache = createLeafCache({ ca, size: 8 });
    const port = await serveWith(await resolved(cache.get('example.com', 'name')));
    const result = await handshake(port, 'example.com', (await makeCa('other')).certPem);
    expect(result.authorized).toBe(false);
    expect(result.error).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('a hit is returned synchronously and is the same context', async () => {
    const cache = createLeafCache({ ca, size: 8 });
    const miss = cache.get('example.com', 'name');
    expect(miss).toBeInstanceOf(Promise);
    const first = await miss;
    const hit = cache.get('example.com', 'name');
    expect(hit).not.toBeInstanceOf(Promise);
    expect(hit).toBe(first);
    expect(cache.mints).toBe(1);
  });

  it('concurrent gets for one host mint once and share the context', async () => {
    const cache = createLeafCache({ ca, size: 8 });
    const all = await Promise.all(Array.from({ length: 20 }, () => resolved(cache.get('api.test', 'name'))));
    expect(new Set(all).size).toBe(1);
    expect(cache.mints).toBe(1);
    expect(cache.size).toBe(1);
  });

  it('respects the LRU bound, evicting the least recently used host', async () => {
    const cache = createLeafCache({ ca, size: 3 });
    for (const h of ['a.test', 'b.test', 'c.test']) await resolved(cache.get(h, 'name'));
    cache.get('a.test', 'name'); // touch a: b is now the oldest
    await resolved(cache.get('d.test', 'name'));
    expect(cache.size).toBe(3);
    expect(cache.mints).toBe(4);
    expect(cache.get('a.test', 'name')).not.toBeInstanceOf(Promise);
    expect(cache.get('b.test', 'name')).toBeInstanceOf(Promise);
  });

  it('re-mints an entry within 1 h of its notAfter', async () => {
    let clock = Date.now();
    const cache = createLeafCache({ ca, size: 8, now: () => clock });
    const first = await resolved(cache.get('example.com', 'name'));
    clock += 7 * DAY - REMINT_MARGIN_MS - 1000;
    expect(cache.get('example.com', 'name')).toBe(first);
    clock += 2000;
    const renewed = cache.get('example.com', 'name');
    expect(renewed).toBeInstanceOf(Promise);
    expect(await renewed).not.toBe(first);
    expect(cache.mints).toBe(2);
  });

  it('setCa flushes the cache and later leaves chain to the new CA', async () => {
    const cache = createLeafCache({ ca, size: 8 });
    await resolved(cache.get('example.com', 'name'));
    await resolved(cache.get('other.test', 'name'));
    const next = await makeCa('next');
    cache.setCa(next);
    expect(cache.size).toBe(0);
    expect(cache.ca).toBe(next);
    const port = await serveWith(await resolved(cache.get('example.com', 'name')));
    expect((await handshake(port, 'example.com', next.certPem)).authorized).toBe(true);
    expect((await handshake(port, 'example.com', ca.certPem)).authorized).toBe(false);
  });

  it('a mint in flight across setCa is not cached', async () => {
    const cache = createLeafCache({ ca, size: 8 });
    const pending = cache.get('example.com', 'name');
    cache.setCa(await makeCa('next'));
    await pending;
    expect(cache.size).toBe(0);
  });

  it('a failed mint is not cached and the next get tries again', async () => {
    let clock = Date.now();
    const cache = createLeafCache({ ca, size: 8, now: () => clock });
    clock = ca.notAfter.getTime() + DAY; // the CA has expired: minting must fail
    await expect(resolved(cache.get('example.com', 'name'))).rejects.toThrow('the CA has expired');
    expect(cache.size).toBe(0);
    clock = Date.now();
    await resolved(cache.get('example.com', 'name'));
    expect(cache.size).toBe(1);
  });
});
