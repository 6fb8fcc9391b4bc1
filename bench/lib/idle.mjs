// Many idle intercepted connections (proxy memory): open `count` connections, send one request on each so it
// has been through the whole MITM path (CONNECT, ClientHello peek, leaf, TLS, inner HTTP server, upstream),
// then leave them all open and idle and read the holder's RSS. The direct path does the same against the
// upstream, as a reference for what a plain Node TLS server pays per connection. Each side is a FRESH process,
// so the per-connection figure is not hidden in heap slack left by earlier load.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'undici';
import { directConnector, proxyConnector } from './connectors.mjs';
import { peakRssMiB, rssMiB } from './proc-stats.mjs';
import { startProxyChild, stopChild } from './procs.mjs';
import { startUpstream } from './upstream.mjs';

/**
 * Hold `count` idle connections to a fresh upstream (direct) and then through a fresh proxy.
 * @param {any} env  what setUp() returned (config, tokens, CAs, origin)
 * @param {number} count
 */
export async function runIdlePair(env, count) {
  const upstream = await startUpstream({ kind: env.upstreamKind, expectAuth: '', dir: env.dir });
  let direct;
  try {
    direct = await runIdle({
      connector: directConnector({ ca: env.fixtureCa }),
      origin: `https://localhost:${upstream.port}`,
      count,
      pid: upstream.pid,
    });
  } finally {
    await stopChild(upstream.child);
  }
  const proxy = await startProxyChild(env);
  try {
    const connector = proxyConnector({
      proxyPort: proxy.port,
      authorization: env.authorization,
      ca: env.proxyCa(),
    });
    return { direct, proxy: await runIdle({ connector, origin: env.origin, count, pid: proxy.pid }) };
  } finally {
    await stopChild(proxy.child);
  }
}

/**
 * @param {{ connector: any, origin: string, count: number, pid: number, parallel?: number, settleMs?: number }} o
 *   `pid` is the process whose memory is read (the proxy, or the upstream for the direct path).
 */
export async function runIdle(o) {
  const parallel = o.parallel ?? 50;
  const settleMs = o.settleMs ?? 1500;
  const before = rssMiB(o.pid);
  const clients = [];
  let failed = 0;
  let lastError;
  let next = 0;
  const opener = async () => {
    while (next < o.count) {
      next += 1;
      const client = new Client(o.origin, {
        connect: o.connector,
        keepAliveTimeout: 600_000,
        keepAliveMaxTimeout: 600_000,
      });
      try {
        const res = await client.request({ method: 'GET', path: '/small' });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
        clients.push(client);
      } catch (err) {
        failed += 1;
        lastError = err.message;
        await client.destroy();
      }
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: parallel }, opener));
  const openSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  // Let timers, GC and pending writes settle so RSS reflects the idle steady state.
  await sleep(settleMs);
  const open = rssMiB(o.pid);
  const peak = peakRssMiB(o.pid);
  await Promise.all(clients.map((c) => c.destroy()));
  await sleep(settleMs);
  const after = rssMiB(o.pid);
  const held = clients.length;
  return {
    connections: held,
    failed,
    ...(failed && lastError ? { last_error: lastError } : {}),
    open_seconds: openSeconds,
    rss_before_mib: before,
    rss_open_mib: open,
    rss_peak_mib: peak,
    rss_after_close_mib: after,
    kib_per_connection: before !== null && open !== null && held > 0 ? ((open - before) * 1024) / held : null,
  };
}
