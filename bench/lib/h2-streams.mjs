// HTTP/2 multiplexing throughput (issue 11): one client connection carrying `streams` concurrent small GETs, each
// replaced as soon as it completes, for the measured window — requests/s on the direct path (TLS straight to the h2
// upstream) and through the proxy (CONNECT, MITM with ALPN h2, each stream through the pipeline, an h2 session
// upstream), interleaved round by round. Every response must say the credential arrived as expected.
import { connect } from 'node:http2';
import { directConnector, proxyConnector } from './connectors.mjs';
import { cleanEnv, spawnUntil } from './procs.mjs';
import { median, ratio } from './stats.mjs';

/** An h2 session to localhost:port over a TLS socket from a connector that offered ALPN h2. */
function openSession(connector, port) {
  return new Promise((resolve, reject) =>
    connector({ hostname: 'localhost', port }, (err, socket) => {
      if (err) return reject(err);
      if (socket.alpnProtocol !== 'h2') return reject(new Error(`ALPN chose ${socket.alpnProtocol}, not h2`));
      const session = connect(`https://localhost:${port}`, { createConnection: () => socket });
      session.once('error', reject);
      session.once('connect', () => resolve(session));
    }),
  );
}

/** One GET; resolves with the `x-bench-auth` answer once the body ended. */
function get(session) {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': 'GET', ':path': '/h2' });
    let auth;
    req.once('response', (headers) => {
      auth = headers['x-bench-auth'];
    });
    req.on('data', () => {});
    req.once('end', () => resolve(auth));
    req.once('error', reject);
    req.end();
  });
}

/** One path, one round: requests/s over `durationMs` after `warmupMs`. */
export async function round(connector, port, o, want) {
  const session = await openSession(connector, port);
  const start = Date.now() + o.warmupMs;
  const stop = start + o.durationMs;
  let counted = 0;
  const lane = async () => {
    while (Date.now() < stop) {
      const auth = await get(session);
      if (auth !== want) throw new Error(`h2-c32: credential arrived "${auth}", expected "${want}"`);
      if (Date.now() >= start && Date.now() < stop) counted += 1;
    }
  };
  await Promise.all(Array.from({ length: o.streams }, lane));
  session.close();
  return (counted * 1000) / o.durationMs;
}

/**
 * Run the interleaved rounds against `env.h2Upstream`, a service host of the proxy.
 * @param {any} env  what setUp() returned
 * @param {{ proxyPort: number, rounds: number, durationMs: number, warmupMs: number, streams?: number,
 *   log: (line: string) => void }} o
 */
export async function runH2Streams(env, o) {
  const port = env.h2Upstream.port;
  const alpn = ['h2'];
  const direct = directConnector({ ca: env.fixtureCa, alpn });
  const proxy = proxyConnector({
    proxyPort: o.proxyPort,
    authorization: env.authorization,
    ca: env.proxyCa(),
    alpn,
  });
  const settings = { streams: o.streams ?? 32, durationMs: o.durationMs, warmupMs: o.warmupMs };
  const rounds = { direct: [], proxy: [] };
  for (let i = 0; i < o.rounds; i++) {
    rounds.direct.push(await round(direct, port, settings, 'no'));
    rounds.proxy.push(await round(proxy, port, settings, 'yes'));
    o.log(
      `  round ${i + 1}: direct ${rounds.direct[i].toFixed(0)} req/s, proxy ${rounds.proxy[i].toFixed(0)} req/s`,
    );
  }
  const d = median(rounds.direct);
  const p = median(rounds.proxy);
  return {
    streams: settings.streams,
    direct_req_s: d,
    proxy_req_s: p,
    ratio: ratio(p, d),
    ratio_by_round: rounds.proxy.map((x, i) => ratio(x, rounds.direct[i])),
    rounds,
  };
}

/**
 * Start the h2 upstream child; `expectAuth` is the Authorization it reports as `x-bench-auth: yes`.
 * @param {string} expectAuth
 */
export async function startH2UpstreamChild(expectAuth) {
  const h = await spawnUntil(['bench/lib/h2-upstream-server.mjs'], {
    env: cleanEnv({ BENCH_EXPECT_AUTH: expectAuth }),
    match: (line) => typeof line.port === 'number',
  });
  return { ...h, port: h.line.port };
}
