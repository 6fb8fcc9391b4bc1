// WebSocket echo throughput (issue 11): `connections` WebSockets, each sending a 64-byte message and waiting for
// its echo before the next, for the measured window — messages/s on the direct path (TLS straight to the ws
// upstream) and through the proxy (CONNECT, MITM, injected upgrade, frames piped), interleaved round by round.
// Both paths open their TLS sockets with the same connectors as the HTTP scenarios, then hand them to `ws`.
import { WebSocket } from 'ws';
import { directConnector, proxyConnector } from './connectors.mjs';
import { cleanEnv, spawnUntil } from './procs.mjs';
import { median, ratio } from './stats.mjs';

const MESSAGE = Buffer.alloc(64, 'w');

/** A TLS socket to localhost:port from an undici-style connector. */
function openTls(connector, port) {
  return new Promise((resolve, reject) =>
    connector({ hostname: 'localhost', port }, (err, socket) => (err ? reject(err) : resolve(socket))),
  );
}

/** Open one WebSocket over `connector`; resolves with it and whether the upstream saw the credential. */
async function openWs(connector, port) {
  const socket = await openTls(connector, port);
  const ws = new WebSocket(`wss://localhost:${port}/echo`, {
    createConnection: () => socket,
    perMessageDeflate: false,
  });
  const auth = await new Promise((resolve, reject) => {
    ws.once('upgrade', (res) => resolve(res.headers['x-bench-auth']));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
  });
  await new Promise((resolve) => (ws.readyState === WebSocket.OPEN ? resolve() : ws.once('open', resolve)));
  return { ws, auth };
}

/** Echo round trips on `ws` until `until()` says stop; returns the count completed while `counting()`. */
function pingPong(ws, until, counting) {
  return new Promise((resolve, reject) => {
    let n = 0;
    ws.on('message', () => {
      if (counting()) n += 1;
      if (until()) resolve(n);
      else ws.send(MESSAGE);
    });
    ws.once('close', () => reject(new Error('closed mid-run')));
    ws.send(MESSAGE);
  });
}

/** One path, one round: messages/s over `durationMs` after `warmupMs`. */
async function round(connector, port, o, want) {
  const opened = await Promise.all(Array.from({ length: o.connections }, () => openWs(connector, port)));
  for (const { auth } of opened) {
    if (auth !== want) throw new Error(`ws-echo: credential injected "${auth}", expected "${want}"`);
  }
  const start = Date.now() + o.warmupMs;
  const stop = start + o.durationMs;
  const counts = await Promise.all(
    opened.map(({ ws }) =>
      pingPong(
        ws,
        () => Date.now() >= stop,
        () => Date.now() >= start,
      ),
    ),
  );
  for (const { ws } of opened) {
    ws.removeAllListeners('close');
    ws.close(1000);
  }
  return (counts.reduce((a, b) => a + b, 0) * 1000) / o.durationMs;
}

/**
 * Run the interleaved rounds. `env.wsUpstream.port` is the ws echo child; its host is a service of the proxy.
 * @param {any} env  what setUp() returned
 * @param {{ proxyPort: number, rounds: number, durationMs: number, warmupMs: number, connections?: number,
 *   log: (line: string) => void }} o
 */
export async function runWsEcho(env, o) {
  const port = env.wsUpstream.port;
  const direct = directConnector({ ca: env.fixtureCa });
  const proxy = proxyConnector({
    proxyPort: o.proxyPort,
    authorization: env.authorization,
    ca: env.proxyCa(),
  });
  const settings = { connections: o.connections ?? 4, durationMs: o.durationMs, warmupMs: o.warmupMs };
  const rounds = { direct: [], proxy: [] };
  for (let i = 0; i < o.rounds; i++) {
    rounds.direct.push(await round(direct, port, settings, 'no'));
    rounds.proxy.push(await round(proxy, port, settings, 'yes'));
    o.log(
      `  round ${i + 1}: direct ${rounds.direct[i].toFixed(0)} msg/s, proxy ${rounds.proxy[i].toFixed(0)} msg/s`,
    );
  }
  const d = median(rounds.direct);
  const p = median(rounds.proxy);
  return {
    connections: settings.connections,
    message_bytes: MESSAGE.length,
    direct_msgs_s: d,
    proxy_msgs_s: p,
    ratio: ratio(p, d),
    ratio_by_round: rounds.proxy.map((x, i) => ratio(x, rounds.direct[i])),
    rounds,
  };
}

/**
 * Start the ws echo upstream child; `expectAuth` is the Authorization it reports as `x-bench-auth: yes`.
 * @param {string} expectAuth
 */
export async function startWsUpstreamChild(expectAuth) {
  const h = await spawnUntil(['bench/lib/ws-upstream-server.mjs'], {
    env: cleanEnv({ BENCH_EXPECT_AUTH: expectAuth }),
    match: (line) => typeof line.port === 'number',
  });
  return { ...h, port: h.line.port };
}
