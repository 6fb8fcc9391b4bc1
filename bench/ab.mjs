// Development harness for A/B runs of proxy builds: `node bench/ab.mjs [entry …]` (default bin/clef-proxy).
// Starts one nginx upstream and agent, one proxy per entry script (e.g. the bin/clef-proxy of two worktrees), and
// measures them in interleaved rounds: proxy CPU per request (utime+stime from /proc) and throughput, medians.
// Environment: ROUNDS (4), SECS (4), C (32 connections), SCEN (small | download), CLIENT (undici | hey),
// TRACE (a command run against the first proxy during the last round, PID replaced: `perf record -g -p PID`).
// Every request carries ?expect=yes, so the upstream answers 403 to any request the credential did not reach.
import { spawn, spawnSync } from 'node:child_process';
import { proxyConnector } from './lib/connectors.mjs';
import { runLoad } from './lib/load.mjs';
import { cpuMicros, rssMiB } from './lib/proc-stats.mjs';
import { startProxyChild, stopChild } from './lib/procs.mjs';
import { setUp } from './lib/setup.mjs';

const entries = process.argv.slice(2).length ? process.argv.slice(2) : ['bin/clef-proxy'];
const rounds = Number(process.env.ROUNDS ?? 4);
const secs = Number(process.env.SECS ?? 4);
const c = Number(process.env.C ?? 32);
const client = process.env.CLIENT ?? 'undici';
const path = process.env.SCEN === 'download' ? '/download' : '/small';
const env = await setUp('nginx', 'file', client === 'hey');
const proxies = [];
for (const entry of entries) {
  proxies.push(
    await startProxyChild({
      entry,
      configPath: env.configPath,
      workloadToken: env.workloadToken,
      agentToken: env.agentToken,
    }),
  );
}

async function measure(p, ms) {
  if (client === 'hey') {
    const proxyUrl = `http://bench:${env.workloadToken}@127.0.0.1:${p.port}`;
    const c0 = cpuMicros(p.child.pid);
    const args = ['-z', `${ms / 1000}s`, '-c', String(c), '-disable-compression', '-x', proxyUrl];
    const r = spawnSync('hey', [...args, `${env.nativeOrigin}${path}?expect=yes`], { encoding: 'utf8' });
    const ok = Number(/\[200\]\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1]);
    return { rps, us: (cpuMicros(p.child.pid) - c0) / ok };
  }
  const r = await runLoad({
    connector: proxyConnector({ proxyPort: p.port, authorization: env.authorization, ca: env.proxyCa() }),
    origin: env.origin,
    concurrency: c,
    durationMs: ms,
    warmupMs: 500,
    method: 'GET',
    path: `${path}?expect=yes`,
    pids: { proxy: p.child.pid },
  });
  if (r.errors) console.log(`errors: ${r.errors}`);
  return { rps: r.rps, us: r.proxy_cpu_us_per_req };
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
    console.log(
      `${entries[k]}: median ${us} µs/req, ${Math.round(median(results[k].map((r) => r.rps)))} req/s`,
    );
  }
} finally {
  for (const p of proxies) await stopChild(p.child);
  await env.tearDown();
}
