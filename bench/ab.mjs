// Development harness for A/B runs of proxy builds: `node bench/ab.mjs [entry …]` (default bin/clef-proxy);
// an entry written `--flag,--flag@entry` runs with those node flags.
// Starts one nginx upstream and agent, one proxy per entry script (e.g. the bin/clef-proxy of two worktrees), and
// measures them in interleaved rounds: proxy CPU per request (utime+stime from /proc) and throughput, medians.
// Environment: ROUNDS (4), SECS (4), C (32 connections), SCEN (small | download), CLIENT (undici | hey),
// TRACE (a command run against the first proxy during the last round, PID replaced: `perf record -g -p PID`),
// DIRECT=1 (also measure the direct path each round and print each proxy's throughput as a share of it).
// BENCH_PROXY_CONFIG with "workers": CPU is summed over the primary and its workers.
// SCEN=h2: C concurrent streams on one HTTP/2 connection to the HTTP/2 upstream (undici client setting ignored).
// Every proxied request carries ?expect=yes, so the upstream answers 403 to any request the credential did not
// reach (direct ones ?expect=no: the credential must not be there).
import { spawn } from 'node:child_process';
import { directConnector, proxyConnector } from './lib/connectors.mjs';
import { round as h2Round } from './lib/h2-streams.mjs';
import { runHey } from './lib/hey.mjs';
import { runLoad } from './lib/load.mjs';
import { cpuMicros as ownCpuMicros, rssMiB, treeCpuMicros } from './lib/proc-stats.mjs';
import { startProxyChild, stopChild } from './lib/procs.mjs';
import { setUp } from './lib/setup.mjs';

const entries = process.argv.slice(2).length ? process.argv.slice(2) : ['bin/clef-proxy'];
const rounds = Number(process.env.ROUNDS ?? 4);
const secs = Number(process.env.SECS ?? 4);
const c = Number(process.env.C ?? 32);
const client = process.env.CLIENT ?? 'undici';
const path = process.env.SCEN === 'download' ? '/download' : '/small';
const h2 = process.env.SCEN === 'h2';
// With `workers` in BENCH_PROXY_CONFIG the CPU is the whole process tree's (the primary and its workers).
const tree = /"workers"/.test(process.env.BENCH_PROXY_CONFIG ?? '');
const cpuMicros = tree ? treeCpuMicros : ownCpuMicros;
const env = await setUp('nginx', 'file', client === 'hey', false, h2);
const proxies = [];
for (const spec of entries) {
  // `--flag,--flag2@entry`: node flags for this proxy only (e.g. a V8 heap setting against the default).
  const at = spec.lastIndexOf('@');
  const entry = spec.startsWith('--') && at > 0 ? spec.slice(at + 1) : spec;
  const nodeArgs = entry === spec ? [] : spec.slice(0, at).split(',');
  proxies.push(
    await startProxyChild({
      entry,
      nodeArgs,
      configPath: env.configPath,
      workloadToken: env.workloadToken,
      agentToken: env.agentToken,
    }),
  );
}

const direct = process.env.DIRECT === '1';
const directRps = [];

/** `p` undefined: the direct path (client straight to the upstream). */
async function measure(p, ms) {
  if (h2) {
    const alpn = ['h2'];
    const connector = p
      ? proxyConnector({ proxyPort: p.port, authorization: env.authorization, ca: env.proxyCa(), alpn })
      : directConnector({ ca: env.fixtureCa, alpn });
    const c0 = p ? cpuMicros(p.child.pid) : 0;
    const settings = { streams: c, durationMs: ms, warmupMs: 500 };
    const rps = await h2Round(connector, env.h2Upstream.port, settings, p ? 'yes' : 'no');
    // CPU over warm-up and window alike; the request count is the window's, so this slightly overstates it.
    return { rps, us: p ? (cpuMicros(p.child.pid) - c0) / (rps * ((ms + 500) / 1000)) : 0 };
  }
  if (client === 'hey') {
    const r = await runHey({
      bin: 'hey',
      url: `${env.nativeOrigin}${path}?expect=${p ? 'yes' : 'no'}`,
      proxyUrl: p && `http://bench:${env.workloadToken}@127.0.0.1:${p.port}`,
      concurrency: c,
      durationMs: ms,
      method: 'GET',
      pids: { proxy: p?.child.pid },
      cpuOf: cpuMicros,
    });
    if (r.errors) console.log(`errors: ${r.errors} (last: ${r.last_error})`);
    return { rps: r.rps, us: p ? r.proxy_cpu_us_per_req : 0 };
  }
  const r = await runLoad({
    connector: p
      ? proxyConnector({ proxyPort: p.port, authorization: env.authorization, ca: env.proxyCa() })
      : directConnector({ ca: env.fixtureCa }),
    origin: env.origin,
    concurrency: c,
    durationMs: ms,
    warmupMs: 500,
    method: 'GET',
    path: `${path}?expect=${p ? 'yes' : 'no'}`,
    pids: p ? { proxy: p.child.pid, proxyTree: tree } : {},
  });
  if (r.errors) console.log(`errors: ${r.errors}`);
  return { rps: r.rps, us: p ? r.proxy_cpu_us_per_req : 0 };
}

const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const results = proxies.map(() => []);
try {
  for (const p of proxies) await measure(p, 1500);
  for (let i = 0; i < rounds; i++) {
    const trace = process.env.TRACE && i === rounds - 1 ? process.env.TRACE : undefined;
    const tracer = trace
      ? spawn('sh', ['-c', `exec ${trace.replaceAll('PID', String(proxies[0].child.pid))}`], {
          stdio: 'inherit',
        })
      : undefined;
    if (direct) {
      const d = await measure(undefined, secs * 1000);
      directRps.push(d.rps);
      console.log(`round ${i} direct: ${Math.round(d.rps)} req/s`);
    }
    for (let k = 0; k < proxies.length; k++) {
      const r = await measure(proxies[k], secs * 1000);
      if (tracer && k === 0) {
        tracer.kill('SIGINT');
        await new Promise((resolve) => tracer.on('exit', resolve));
      }
      results[k].push(r);
      const rss = rssMiB(proxies[k].child.pid);
      console.log(
        `round ${i} ${entries[k]}: ${Math.round(r.rps)} req/s, ${Math.round(r.us)} µs/req, RSS ${rss} MiB`,
      );
    }
  }
  for (let k = 0; k < proxies.length; k++) {
    const us = Math.round(median(results[k].map((r) => r.us)));
    const share = direct
      ? `, ${Math.round(median(results[k].map((r, i) => (100 * r.rps) / directRps[i])))} % of direct (median of rounds)`
      : '';
    console.log(
      `${entries[k]}: median ${us} µs/req, ${Math.round(median(results[k].map((r) => r.rps)))} req/s${share}`,
    );
  }
} finally {
  for (const p of proxies) await stopChild(p.child);
  await env.tearDown();
}
