#!/usr/bin/env node
// clef-proxy benchmark suite: `npm run bench` (builds dist/ first) or `node bench/run.mjs [--quick] …`.
// Loopback only. Starts an HTTPS upstream, the fixture agent and `bin/clef-proxy serve` as child processes,
// measures each load scenario on the direct and the proxy path interleaved round by round, then idle
// connections, leaf minting and start-up; prints a table with the targets (docs/performance.md) and writes JSON.
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { cpus, loadavg, release } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'undici';
import { parseBenchArgs, USAGE } from './lib/args.mjs';
import { directConnector, proxyConnector } from './lib/connectors.mjs';
import { runH2Streams } from './lib/h2-streams.mjs';
import { findHey, runHey } from './lib/hey.mjs';
import { runIdlePair } from './lib/idle.mjs';
import { runLoad } from './lib/load.mjs';
import { rssMiB } from './lib/proc-stats.mjs';
import { REPO_ROOT, startProxyChild, stopChild } from './lib/procs.mjs';
import { analyseProfile, findProfile } from './lib/profile.mjs';
import { evaluateTargets, formatReport } from './lib/report.mjs';
import { checkedPath, LOAD_SCENARIOS, runInterleaved } from './lib/scenarios.mjs';
import { setUp } from './lib/setup.mjs';
import { runStartup } from './lib/startup.mjs';
import { runVariants, VARIANT_SCENARIOS } from './lib/variants.mjs';
import { runWsEcho } from './lib/ws-echo.mjs';

const log = (line) => process.stderr.write(`${line}\n`);

let opts;
try {
  opts = parseBenchArgs(process.argv.slice(2), process.env.BENCH_OUT);
} catch (err) {
  log(`bench: ${err.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!existsSync(join(REPO_ROOT, 'dist/cli/main.js'))) {
  log('bench: dist/ is not built; run `npm run build` (npm run bench does it for you)');
  process.exit(2);
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outPath = opts.out ?? join(REPO_ROOT, 'bench/results', `${stamp}.json`);
const has = (name) => opts.scenarios.includes(name);
const results = { meta: meta(), scenarios: {} };
const env = await setUp(
  opts.upstream,
  opts.audit,
  opts.client !== 'undici' && findHey() !== undefined,
  has('ws-echo'),
  has('h2-c32'),
);
results.meta.upstream = env.upstreamKind;
log(`upstream: ${env.upstreamKind}, audit sink: ${opts.audit}`);
let proxy;
let statsClient;
/** hey's settings when it runs (nativeClient); the profile then drives the proxy with it too. */
let native;
try {
  if (has('startup')) {
    log(`startup: 1 first start + ${opts.startupRuns} warm starts`);
    results.startup = await runStartup({ ...env, runs: opts.startupRuns });
  }
  proxy = await startProxyChild(env);
  const direct = directConnector({ ca: env.fixtureCa });
  const viaProxy = proxyConnector({
    proxyPort: proxy.port,
    authorization: env.authorization,
    ca: env.proxyCa(),
  });
  await sanityCheck(direct, viaProxy);
  const pids = { proxy: proxy.pid, upstream: env.upstream.pid };
  // One kept-alive connection of its own (opened by the first call), so reading the counter adds nothing to it.
  statsClient = new Client(env.origin, {
    connect: direct,
    keepAliveTimeout: 600_000,
    keepAliveMaxTimeout: 600_000,
  });
  const upstreamConnections = async () => {
    const res = await statsClient.request({ method: 'GET', path: '/_stats' });
    return env.upstream.connectionsFrom(await res.body.text());
  };
  await upstreamConnections();
  const hey = nativeClient(proxy.port);
  native = hey;
  for (const scenario of LOAD_SCENARIOS.filter((s) => has(s.name))) {
    log(
      `${scenario.name}: ${scenario.title}, ${opts.rounds} round(s) of ${opts.durationMs / 1000} s per path`,
    );
    results.scenarios[scenario.name] = await runInterleaved(scenario, {
      ...opts,
      origin: env.origin,
      direct,
      proxy: viaProxy,
      pids,
      upstreamConnections,
      hey,
      clients: opts.client === 'hey' ? ['hey'] : hey ? ['undici', 'hey'] : ['undici'],
      log,
    });
  }
  if (opts.settleMs > 0 && Object.keys(results.scenarios).length > 0) {
    log(`settle: the proxy idle for ${opts.settleMs / 1000} s after the load, then its RSS`);
    const atEnd = rssMiB(proxy.pid);
    await new Promise((resolve) => setTimeout(resolve, opts.settleMs));
    results.settled = {
      after_s: opts.settleMs / 1000,
      rss_at_end_mib: atEnd,
      proxy_rss_mib: rssMiB(proxy.pid),
    };
    log(
      `  RSS ${atEnd.toFixed(1)} MiB when the load stopped, ${results.settled.proxy_rss_mib.toFixed(1)} MiB after`,
    );
  }
  if (has('ws-echo')) {
    log(
      `ws-echo: 4 WebSockets echoing 64-byte messages, ${opts.rounds} round(s) of ${opts.durationMs / 1000} s per path`,
    );
    results.websocket = await runWsEcho(env, { ...opts, proxyPort: proxy.port, log });
  }
  if (has('h2-c32')) {
    log(
      `h2-c32: 32 concurrent streams on one HTTP/2 connection, ${opts.rounds} round(s) of ${opts.durationMs / 1000} s per path`,
    );
    results.h2 = await runH2Streams(env, { ...opts, proxyPort: proxy.port, log });
  }
  // Operational log lines the proxy wrote while under load, "listening" included: a per-request log would show here.
  results.proxy_log_lines = proxy.lines;
  await stopChild(proxy.child);
  proxy = undefined;
  // Proxies that differ in config (workers, admin), each measured on the ka-c32 proxy path, interleaved.
  for (const name of Object.keys(VARIANT_SCENARIOS).filter(has)) {
    log(
      `${name}: ${VARIANT_SCENARIOS[name].title}, ${opts.rounds} round(s) of ${opts.durationMs / 1000} s each`,
    );
    results.variants ??= {};
    results.variants[name] = await runVariants(name, env, { ...opts, log });
  }
  if (has('idle')) {
    log(`idle: ${opts.idleConnections} idle connections, direct (fresh upstream) then proxy (fresh proxy)`);
    results.idle = await runIdlePair(env, opts.idleConnections);
  }
  if (has('leaf')) {
    log(`leaf: ${opts.leafSamples} cold mints, cache hits in batches`);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['bench/lib/leaf.mjs', String(opts.leafSamples)],
      {
        cwd: REPO_ROOT,
      },
    );
    results.leaf = JSON.parse(stdout);
  }
  if (has('profile')) results.profile = await profile();
} finally {
  await statsClient?.close();
  if (proxy) await stopChild(proxy.child);
  await env.tearDown();
}

results.meta.loadavg_at_end = loadavg();
results.targets = evaluateTargets(results);
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, `${JSON.stringify(results, null, 2)}\n`);
const load = results.meta.loadavg_at_start[0];
process.stdout.write(
  `\nnode ${process.version}, ${cpus().length} CPUs, load average ${load.toFixed(1)} at start, ` +
    `${results.meta.loadavg_at_end[0].toFixed(1)} at end${load > cpus().length ? ' (busy machine: compare ratios, not absolutes)' : ''}\n\n`,
);
process.stdout.write(`${formatReport(results, results.targets)}\n`);
if (results.profile) {
  process.stdout.write(`\nprofile (${results.profile.scenario}, proxy self time, % of busy time):\n`);
  for (const f of results.profile.top_frames.slice(0, 15)) {
    process.stdout.write(`  ${f.pct_busy.toFixed(1).padStart(5)} %  ${f.name}\n`);
  }
}
process.stdout.write(`\nresults: ${outPath}\n`);

/**
 * One request on each path: both must answer 200, and only the proxy path may carry the injected credential.
 * Then the upstream's `?expect=` gate, which checks every measured request, must refuse the wrong expectation.
 */
async function sanityCheck(directConn, proxyConn) {
  for (const [name, connect, want] of [
    ['direct', directConn, 'no'],
    ['proxy', proxyConn, 'yes'],
  ]) {
    const client = new Client(env.origin, { connect });
    try {
      const res = await client.request({ method: 'GET', path: '/small' });
      await res.body.text();
      if (res.statusCode !== 200 || res.headers['x-bench-auth'] !== want) {
        throw new Error(
          `${name} path: status ${res.statusCode}, credential injected: ${res.headers['x-bench-auth']}`,
        );
      }
      const other = name === 'direct' ? 'proxy' : 'direct';
      const wrong = await client.request({ method: 'GET', path: checkedPath('/small', other) });
      await wrong.body.text();
      if (wrong.statusCode !== 403)
        throw new Error(`${name} path: the ?expect= gate answered ${wrong.statusCode}`);
    } finally {
      await client.close();
    }
  }
}

/** hey's settings for the native client, or undefined (with the reason printed) when it is off or missing. */
function nativeClient(proxyPort) {
  if (opts.client === 'undici') return undefined;
  const bin = findHey();
  if (!bin || !env.nativeOrigin) {
    const why = bin ? env.nativeSkipped : 'hey is not installed (Debian: apt-get install hey)';
    if (opts.client === 'hey') throw new Error(`--client hey: ${why}`);
    log(`native client skipped: ${why}`);
    results.meta.native_client = { skipped: why };
    return undefined;
  }
  const bodyFile = join(env.dir, 'body-1m.bin');
  writeFileSync(bodyFile, Buffer.alloc(1 << 20, 'u'));
  results.meta.native_client = { client: 'hey', bin };
  log(`native client: ${bin}`);
  // Go sends Proxy-Authorization on its CONNECT only from the proxy URL's userinfo (hey.mjs).
  const proxyUrl = `http://bench:${env.workloadToken}@127.0.0.1:${proxyPort}`;
  return { bin, proxyUrl, bodyFile, origin: env.nativeOrigin };
}

/** One load scenario (keep-alive c=32 by default) through a proxy run under `node --cpu-prof`. */
async function profile() {
  const scenario = LOAD_SCENARIOS.find((s) => s.name === opts.profileScenario);
  const dir = join(env.dir, 'prof');
  await mkdir(dir);
  log(`profile: ${scenario.title} through a proxy under --cpu-prof for ${opts.profileMs / 1000} s`);
  const profiled = await startProxyChild({
    ...env,
    entry: 'bench/lib/serve-unbundled.mjs',
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir],
  });
  // Count only the measured window: the warm-up opens the proxy's upstream connections and warms the JIT.
  let fromMicros = Number(process.hrtime.bigint() / 1000n) + opts.warmupMs * 1000;
  try {
    if (native) {
      // At saturation with the native client (hey), as the load scenarios' second client.
      const heyRun = (durationMs) =>
        runHey({
          bin: native.bin,
          url: `${native.origin}${checkedPath(scenario.path, 'proxy')}`,
          proxyUrl: native.proxyUrl.replace(/:\d+$/, `:${profiled.port}`),
          concurrency: scenario.concurrency,
          durationMs,
          method: scenario.method,
          ...(scenario.body ? { bodyFile: native.bodyFile, bodyBytes: scenario.body.length } : {}),
          responseBytes: scenario.responseBytes,
          newConnection: scenario.newConnection,
          pids: { proxy: profiled.pid },
        });
      await heyRun(opts.warmupMs);
      fromMicros = Number(process.hrtime.bigint() / 1000n);
      const load = await heyRun(opts.profileMs);
      log(`  ${load.rps.toFixed(0)} req/s under the profiler (hey)`);
      return await finishProfile(scenario, dir, fromMicros, profiled, 'hey');
    }
    const load = await runLoad({
      ...scenario,
      connector: proxyConnector({
        proxyPort: profiled.port,
        authorization: env.authorization,
        ca: env.proxyCa(),
      }),
      origin: env.origin,
      durationMs: opts.profileMs,
      warmupMs: opts.warmupMs,
      pids: { proxy: profiled.pid },
    });
    log(`  ${load.rps.toFixed(0)} req/s under the profiler`);
    return await finishProfile(scenario, dir, fromMicros, profiled, 'undici');
  } finally {
    await stopChild(profiled.child);
  }
}

/** Stop the profiled proxy (it writes its profile on exit) and summarise the measured window. */
async function finishProfile(scenario, dir, fromMicros, profiled, client) {
  await stopChild(profiled.child);
  const file = findProfile(dir);
  if (!file) throw new Error('the profiled proxy wrote no .cpuprofile');
  const kept = `${outPath.replace(/\.json$/, '')}.cpuprofile`;
  // The results folder is made at the end too; a profile comes first on a fresh clone.
  mkdirSync(dirname(kept), { recursive: true });
  copyFileSync(file, kept);
  return { scenario: scenario.name, client, ...analyseProfile(file, { fromMicros }), file: kept };
}

function meta() {
  let commit = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    }).trim();
  } catch {}
  return {
    date: new Date().toISOString(),
    commit,
    node: process.version,
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? null,
    kernel: release(),
    loadavg_at_start: loadavg(),
    settings: { ...opts, out: undefined },
  };
}
