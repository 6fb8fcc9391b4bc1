// Proxy variants measured against each other (issue 14): the ka-c32 proxy path (keep-alive GET 64 B, c=32, undici)
// through several proxies that differ only in a few config keys, interleaved round by round (A, B, C, A, B, C, …)
// so drift on a shared machine hits every variant alike (the order rotates each round, so none always goes first). All variants run at once (the idle ones cost nothing
// measurable) and only the measured one carries load. Proxy CPU is the whole process tree: with `workers` the
// primary (audit writer) plus every worker, found through /proc.
//   workers       — `workers` 1, 2 and "auto": what more processes buy on this machine.
//   metrics-cost  — no admin listener against `admin` with /metrics scraped once a second during the round.

import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { proxyConnector } from './connectors.mjs';
import { runLoad } from './load.mjs';
import { startProxyChild, stopChild } from './procs.mjs';
import { checkedPath, LOAD_SCENARIOS } from './scenarios.mjs';
import { median, medianOfRounds, ratio } from './stats.mjs';

/** The variant scenarios by name; the first variant is the baseline the others are compared with. */
export const VARIANT_SCENARIOS = {
  workers: {
    title: 'keep-alive GET 64 B, c=32, proxy with workers 1 / 2 / "auto"',
    variants: [
      { name: 'workers-1', config: { workers: 1 } },
      { name: 'workers-2', config: { workers: 2 } },
      { name: 'workers-auto', config: { workers: 'auto' } },
    ],
  },
  'metrics-cost': {
    title: 'keep-alive GET 64 B, c=32, proxy without admin vs with admin and /metrics scraped 1/s',
    variants: [
      { name: 'admin-off', config: { admin: undefined } },
      { name: 'admin-on', config: { admin: { listen: '127.0.0.1:0' } }, scrapeMs: 1000 },
    ],
  },
};

const KA_C32 = LOAD_SCENARIOS.find((s) => s.name === 'ka-c32');

/** GET /metrics on the admin port; resolves true for a 200 with a body. */
function scrape(port) {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let n = 0;
      res.on('data', (c) => {
        n += c.length;
      });
      res.on('end', () => resolve(res.statusCode === 200 && n > 0));
      res.on('error', () => resolve(false));
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Start one variant's proxy on its own config file (the bench config with the variant's keys set or removed). */
async function startVariant(env, base, variant) {
  const config = { ...base };
  for (const [k, v] of Object.entries(variant.config)) {
    if (v === undefined) delete config[k];
    else config[k] = v;
  }
  const configPath = join(env.dir, `proxy-${variant.name}.json`);
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const proxy = await startProxyChild({ ...env, configPath });
  return { ...variant, proxy, adminPort: proxy.line.admin_port, workers: proxy.line.workers ?? 1 };
}

/** One round of ka-c32 through one variant, scraping /metrics meanwhile when the variant says so. */
async function measure(env, o, v) {
  let scrapes = 0;
  let scrapeFailures = 0;
  const timer =
    v.scrapeMs && v.adminPort
      ? setInterval(() => {
          void scrape(v.adminPort).then((ok) => (ok ? scrapes++ : scrapeFailures++));
        }, v.scrapeMs)
      : undefined;
  try {
    const result = await runLoad({
      connector: proxyConnector({
        proxyPort: v.proxy.port,
        authorization: env.authorization,
        ca: env.proxyCa(),
      }),
      origin: env.origin,
      concurrency: KA_C32.concurrency,
      durationMs: o.durationMs,
      warmupMs: o.warmupMs,
      method: KA_C32.method,
      path: checkedPath(KA_C32.path, 'proxy'),
      pids: { proxy: v.proxy.pid, proxyTree: true, upstream: env.upstream.pid },
    });
    return { ...result, ...(timer ? { scrapes, scrape_failures: scrapeFailures } : {}) };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Run scenario `name` for `o.rounds` rounds. Per variant: each round's result, the medians, and the per-round
 * throughput ratio to the baseline (first) variant, then their median.
 * @param {keyof typeof VARIANT_SCENARIOS} name
 * @param {any} env  setUp()'s environment
 * @param {{ rounds: number, durationMs: number, warmupMs: number, log: (s: string) => void }} o
 */
export async function runVariants(name, env, o) {
  const scenario = VARIANT_SCENARIOS[name];
  const base = JSON.parse(await readFile(env.configPath, 'utf8'));
  const running = [];
  try {
    for (const variant of scenario.variants) running.push(await startVariant(env, base, variant));
    const rounds = Object.fromEntries(running.map((v) => [v.name, []]));
    for (let round = 1; round <= o.rounds; round++) {
      const order = running.map((_, i) => running[(i + round - 1) % running.length]);
      for (const v of order) {
        const result = await measure(env, o, v);
        result.loadavg_1m = loadavg()[0];
        rounds[v.name].push(result);
        o.log(
          `  ${name} round ${round} ${v.name.padEnd(12)} ${result.rps.toFixed(0).padStart(7)} req/s` +
            `  p50 ${fmt(result.p50_ms)} ms  proxy CPU ${fmt(result.proxy_cpu_us_per_req, 0)} µs/req` +
            ` (${1 + (v.workers > 1 ? v.workers : 0)} process(es))` +
            (result.scrapes !== undefined ? `  scrapes ${result.scrapes}` : '') +
            (result.errors ? `  errors ${result.errors} (${result.last_error})` : '') +
            `  load ${result.loadavg_1m.toFixed(1)}`,
        );
      }
    }
    const baseline = rounds[running[0].name];
    return {
      title: scenario.title,
      baseline: running[0].name,
      variants: Object.fromEntries(
        running.map((v) => {
          const rs = rounds[v.name];
          const byRound = rs.map((r, i) => ratio(r.rps, baseline[i].rps));
          return [
            v.name,
            {
              config: v.config,
              processes: v.workers > 1 ? 1 + v.workers : 1,
              ...medianOfRounds(rs.map(numeric)),
              rps_vs_baseline: median(byRound),
              rps_vs_baseline_by_round: byRound,
              rounds: rs,
            },
          ];
        }),
      ),
    };
  } finally {
    for (const v of running) await stopChild(v.proxy.child);
  }
}

function numeric(result) {
  const out = {};
  for (const [k, v] of Object.entries(result)) if (typeof v === 'number' || v === null) out[k] = v;
  return out;
}

function fmt(v, digits = 3) {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}
