/**
 * `RunningProxy.stats()` (library API): open client connections and the leaf cache, as a health check or a test
 * would read them — the cache never grows past `limits.leafCacheSize`.
 */
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { tlsThrough } from '../helpers/tls-client.js';

let proxy: TestProxy | undefined;

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

describe('stats()', () => {
  it('counts open connections and bounds the leaf cache', async () => {
    const hosts = ['a', 'b', 'c', 'd'].map((n) => `${n}.upstream.test:443`);
    proxy = await startTestProxy({
      services: hosts.map((h, i) => ({ name: `s${i}`, hosts: [h], auth: { type: 'bearer', secret: 'K' } })),
      secrets: { K: 'stats-secret' },
      limits: { leafCacheSize: 2 },
    });
    expect(proxy.proxy.stats()).toEqual({ connections: 0, leafCache: { size: 0, mints: 0 } });
    const open: TLSSocket[] = [];
    for (const h of hosts) open.push(await tlsThrough(proxy.port, h, { ca: proxy.proxy.caCertPem }));
    const during = proxy.proxy.stats();
    expect(during.connections).toBe(4);
    expect(during.leafCache).toEqual({ size: 2, mints: 4 });
    for (const s of open) s.destroy();
    for (let i = 0; i < 100 && proxy.proxy.stats().connections > 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(proxy.proxy.stats().connections).toBe(0);
  });
});
