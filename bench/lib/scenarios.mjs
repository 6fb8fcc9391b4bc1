// The throughput scenarios, each measured on the direct and the proxy path interleaved round by round
// (direct, proxy, direct, proxy, …) so drift on a shared machine hits both paths alike; medians per path.
import { loadavg } from 'node:os';
import { runHey } from './hey.mjs';
import { runLoad } from './load.mjs';
import { median, medianOfRounds, ratio } from './stats.mjs';

const MIB = Buffer.alloc(1 << 20, 'u');

/**
 * The load scenarios by name. `newConnection` sends `Connection: close`, so every request pays a new TCP
 * connection + full TLS handshake (direct) or a new CONNECT + TLS handshake with the proxy (proxy path; the
 * proxy's own upstream connection stays pooled, as it would in production).
 */
export const LOAD_SCENARIOS = [
  {
    name: 'ka-c1',
    title: 'keep-alive GET 64 B, c=1',
    concurrency: 1,
    method: 'GET',
    path: '/small',
    responseBytes: 64,
  },
  {
    name: 'ka-c32',
    title: 'keep-alive GET 64 B, c=32',
    concurrency: 32,
    method: 'GET',
    path: '/small',
    responseBytes: 64,
  },
  {
    name: 'newconn-c8',
    title: 'new connection + TLS per request, c=8',
    concurrency: 8,
    method: 'GET',
    path: '/small',
    responseBytes: 64,
    newConnection: true,
  },
  {
    name: 'download-1m-c4',
    title: '1 MiB download, c=4',
    concurrency: 4,
    method: 'GET',
    path: '/download',
    responseBytes: 1 << 20,
  },
  {
    name: 'upload-1m-c4',
    title: '1 MiB upload, c=4',
    concurrency: 4,
    method: 'POST',
    path: '/upload',
    body: MIB,
  },
  {
    // Opt-in regression check: the upstream answers before it has read the body (nginx `return`, an early
    // 401/413). Each client connection must stay usable for its next request.
    name: 'early-answer-c4',
    title: '1 MiB upload answered before the body is read, c=4',
    concurrency: 4,
    method: 'POST',
    path: '/upload-early',
    body: MIB,
  },
];

/** The request target on one path: the upstream answers 403 unless the credential arrived exactly on the proxy path. */
export function checkedPath(path, via) {
  return `${path}?expect=${via === 'proxy' ? 'yes' : 'no'}`;
}

/**
 * Run one scenario for `rounds` rounds on both paths and summarise: per-round results, per-path medians, and
 * the proxy/direct ratios (throughput ratio, added median latency). With `env.hey` each round also runs the
 * native client on both paths (direct, proxy, then hey direct, hey proxy), summarised under `native`.
 * @param {(typeof LOAD_SCENARIOS)[number]} scenario
 * @param {{ rounds: number, durationMs: number, warmupMs: number, origin: string, direct: any, proxy: any,
 *   pids: { proxy: number, upstream: number }, upstreamConnections: () => Promise<number>,
 *   hey?: { bin: string, proxyUrl: string, bodyFile: string, origin: string }, clients?: Array<'undici' | 'hey'>,
 *   log: (s: string) => void }} env
 */
export async function runInterleaved(scenario, env) {
  const clients = env.clients ?? (env.hey ? ['undici', 'hey'] : ['undici']);
  const rounds = { undici: { direct: [], proxy: [] }, hey: { direct: [], proxy: [] } };
  for (let round = 1; round <= env.rounds; round++) {
    for (const client of clients) {
      for (const path of ['direct', 'proxy']) {
        const before = await env.upstreamConnections();
        // The direct path has no proxy in it: its proxy columns stay empty.
        const pids = path === 'proxy' ? env.pids : { upstream: env.pids.upstream };
        const result =
          client === 'undici'
            ? await runLoad({
                connector: env[path],
                origin: env.origin,
                concurrency: scenario.concurrency,
                durationMs: env.durationMs,
                warmupMs: env.warmupMs,
                method: scenario.method,
                path: checkedPath(scenario.path, path),
                body: scenario.body,
                newConnection: scenario.newConnection,
                pids,
              })
            : await runHey({
                bin: env.hey.bin,
                url: `${env.hey.origin}${checkedPath(scenario.path, path)}`,
                ...(path === 'proxy' ? { proxyUrl: env.hey.proxyUrl } : {}),
                concurrency: scenario.concurrency,
                durationMs: env.durationMs,
                method: scenario.method,
                ...(scenario.body ? { bodyFile: env.hey.bodyFile, bodyBytes: scenario.body.length } : {}),
                responseBytes: scenario.responseBytes,
                newConnection: scenario.newConnection,
                pids,
              });
        result.loadavg_1m = loadavg()[0];
        // Warm-up included: on the proxy path this shows whether upstream connections are reused.
        result.upstream_connections = (await env.upstreamConnections()) - before;
        rounds[client][path].push(result);
        env.log(
          `  ${scenario.name} round ${round} ${client.padEnd(6)} ${path.padEnd(6)} ${result.rps.toFixed(0).padStart(7)} req/s` +
            `  p50 ${fmt(result.p50_ms)} ms  p99 ${fmt(result.p99_ms)} ms` +
            (path === 'proxy' ? `  proxy CPU ${fmt0(result.proxy_cpu_us_per_req)} µs/req` : '') +
            `  load ${result.loadavg_1m.toFixed(1)}  upstream conns +${result.upstream_connections}` +
            (result.errors ? `  errors ${result.errors} (${result.last_error})` : ''),
        );
      }
    }
  }
  return {
    title: scenario.title,
    concurrency: scenario.concurrency,
    // The first client's figures at the top (undici unless `--client hey`), the native client's under `native`.
    client: clients[0],
    ...summarise(rounds[clients[0]]),
    rounds: rounds[clients[0]],
    ...(clients.includes('hey')
      ? { native: { client: 'hey', ...summarise(rounds.hey), rounds: rounds.hey } }
      : {}),
  };
}

/** Per-path medians and the per-round proxy/direct ratios (then their median) of one client's rounds. */
function summarise(rounds) {
  const direct = medianOfRounds(rounds.direct.map(numeric));
  const proxy = medianOfRounds(rounds.proxy.map(numeric));
  // Ratios are taken within each round (both paths ran back to back under the same machine load), then the
  // median across rounds: steadier than a ratio of medians when the load on a shared box drifts.
  const paired = (f) => median(rounds.proxy.map((p, i) => f(p, rounds.direct[i])));
  const diff = (a, b) => (a !== null && b !== null ? a - b : null);
  return {
    direct,
    proxy,
    ratio: {
      rps: paired((p, d) => ratio(p.rps, d.rps)),
      rps_by_round: rounds.proxy.map((p, i) => ratio(p.rps, rounds.direct[i].rps)),
      mib_s: paired((p, d) => ratio(p.mib_s, d.mib_s)),
      added_p50_ms: paired((p, d) => diff(p.p50_ms, d.p50_ms)),
      added_p99_ms: paired((p, d) => diff(p.p99_ms, d.p99_ms)),
      // When the machine is saturated, throughput goes as 1 / (CPU per request of everyone on the path): the
      // direct path's client + upstream CPU over the proxy path's client + upstream + proxy CPU is the ratio
      // the proxy's CPU alone allows. Measured, not assumed: each term is read per round.
      cpu_ceiling: paired((p, d) =>
        ratio(
          sum(d.upstream_cpu_us_per_req, d.client_cpu_us_per_req),
          sum(p.upstream_cpu_us_per_req, p.client_cpu_us_per_req, p.proxy_cpu_us_per_req),
        ),
      ),
    },
  };
}

/** Sum of numbers, or null when any is missing. */
function sum(...xs) {
  return xs.every((x) => typeof x === 'number') ? xs.reduce((a, b) => a + b, 0) : null;
}

function numeric(result) {
  const out = {};
  for (const [k, v] of Object.entries(result)) if (typeof v === 'number' || v === null) out[k] = v;
  return out;
}

function fmt(ms) {
  return ms === null ? '-' : ms.toFixed(3);
}

function fmt0(v) {
  return v === null ? '-' : v.toFixed(0);
}
