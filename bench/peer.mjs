// Development harness for the peer comparison: `node bench/peer.mjs` measures clef-proxy (bin/clef-proxy) against
// http-mitm-proxy 1.1.0 doing the same job (lib/peer-mitm.mjs: MITM, inject the bearer credential, verified
// keep-alive TLS upstream) in interleaved rounds of keep-alive GET /small?expect=yes, for the performance target
// "keep-alive c=32 throughput ≥ 2× http-mitm-proxy". Per round: throughput (200s only), proxy CPU per request
// (utime+stime from /proc) and errors; then medians and the ratio clef-proxy / http-mitm-proxy (median of the
// per-round ratios) and the 1-minute load average (this is a 2-vCPU machine other runs may share).
// http-mitm-proxy is installed on first use into .scratch/bench-peers (npm; the run is skipped when that fails).
// Environment: ROUNDS (4), SECS (4), C (32 connections), CLIENT (undici | hey: needs /usr/bin/hey and port 443),
// DIRECT=1 (also measure the direct path each round and print each proxy's share of it). hey runs with -t 0, as
// everywhere in the bench (lib/hey.mjs says why).
// The upstream answers 403 to a proxied request the credential did not reach, and every non-200 is an error, so a
// peer that does not inject shows up as errors rather than as speed. hey does not verify certificates (hey.mjs);
// undici verifies each proxy's leaf against that proxy's CA.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { directConnector, proxyConnector } from './lib/connectors.mjs';
import { findHey, runHey } from './lib/hey.mjs';
import { runLoad } from './lib/load.mjs';
import { ensureMitmProxy, startMitmPeer } from './lib/peer-mitm.mjs';
import { REPO_ROOT, startProxyChild, stopChild } from './lib/procs.mjs';
import { FIXTURE_CA_PATH, setUp } from './lib/setup.mjs';

const rounds = Number(process.env.ROUNDS ?? 4);
const secs = Number(process.env.SECS ?? 4);
const c = Number(process.env.C ?? 32);
const client = process.env.CLIENT ?? 'undici';
const direct = process.env.DIRECT === '1';
const path = '/small';
const scratch = join(REPO_ROOT, '.scratch/bench-peers');

const skip =
  ensureMitmProxy(scratch) ?? (client === 'hey' && !findHey() ? 'hey is not installed' : undefined);
if (skip) {
  console.log(`skipped: ${skip}`);
  process.exit(0);
}
const env = await setUp('nginx', 'file', client === 'hey');
const heyBin = client === 'hey' ? findHey() : undefined;
const targets = [];
try {
  if (client === 'hey' && !env.nativeOrigin) throw new Error(`CLIENT=hey: ${env.nativeSkipped}`);
  // setUp keeps the secret to itself: read it back from the agent's data file (it never leaves this process).
  const secret = JSON.parse(readFileSync(join(env.dir, 'agent-data.json'), 'utf8')).secrets.BENCH;
  const clef = await startProxyChild({
    configPath: env.configPath,
    workloadToken: env.workloadToken,
    agentToken: env.agentToken,
  });
  targets.push({ name: 'clef-proxy', child: clef.child, port: clef.port, ca: env.proxyCa });
  // The same service hosts clef-proxy has (setUp): the upstream's port, and 443 for hey.
  const hosts = [new URL(env.origin).host, ...(env.nativeOrigin ? ['localhost:443'] : [])];
  const peer = await startMitmPeer({
    dir: scratch,
    hosts,
    authorization: `Bearer ${secret}`,
    upstreamCaFile: FIXTURE_CA_PATH,
  });
  targets.push({ name: 'http-mitm-proxy', ...peer });
} catch (err) {
  for (const t of targets) await stopChild(t.child);
  await env.tearDown();
  throw err;
}

/** `t` undefined: the direct path. → { rps, us, errors, lastError } */
async function measure(t, ms) {
  const expect = t ? 'yes' : 'no';
  if (client === 'hey') {
    const r = await runHey({
      bin: heyBin,
      url: `${env.nativeOrigin}${path}?expect=${expect}`,
      proxyUrl: t && `http://bench:${env.workloadToken}@127.0.0.1:${t.port}`,
      concurrency: c,
      durationMs: ms,
      method: 'GET',
      pids: { proxy: t?.child.pid },
    });
    return {
      rps: r.rps,
      us: r.proxy_cpu_us_per_req ?? Number.NaN,
      errors: r.errors,
      lastError: r.last_error,
    };
  }
  const r = await runLoad({
    connector: t
      ? proxyConnector({ proxyPort: t.port, authorization: env.authorization, ca: t.ca() })
      : directConnector({ ca: env.fixtureCa }),
    origin: env.origin,
    concurrency: c,
    durationMs: ms,
    warmupMs: 500,
    method: 'GET',
    path: `${path}?expect=${expect}`,
    pids: t ? { proxy: t.child.pid } : {},
  });
  return { rps: r.rps, us: r.proxy_cpu_us_per_req ?? Number.NaN, errors: r.errors, lastError: r.last_error };
}

const median = (a) => a.slice().sort((x, y) => x - y)[Math.floor(a.length / 2)];
const line = (label, r) =>
  `${label}: ${Math.round(r.rps)} req/s, ${Number.isNaN(r.us) ? '' : `${Math.round(r.us)} µs/req, `}${r.errors} errors` +
  (r.errors ? ` (last: ${r.lastError})` : '');
const results = targets.map(() => []);
const directRps = [];
try {
  console.log(`client ${client}, c=${c}, ${rounds} × ${secs} s, load average ${loadavg()[0].toFixed(2)}`);
  // Warm-up: JIT, pools, and the peer's first leaf (node-forge) before anything is measured.
  for (const t of targets) await measure(t, 1500);
  for (let i = 0; i < rounds; i++) {
    if (direct) {
      const d = await measure(undefined, secs * 1000);
      directRps.push(d.rps);
      console.log(line(`round ${i} direct`, d));
    }
    // Alternate which proxy goes first, so neither always runs right after the other's load.
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const k of order) {
      const r = await measure(targets[k], secs * 1000);
      results[k].push(r);
      console.log(line(`round ${i} ${targets[k].name}`, r));
    }
  }
  for (let k = 0; k < targets.length; k++) {
    const share = direct
      ? `, ${Math.round(median(results[k].map((r, i) => (100 * r.rps) / directRps[i])))} % of direct`
      : '';
    const errors = results[k].reduce((n, r) => n + r.errors, 0);
    console.log(
      `${targets[k].name}: median ${Math.round(median(results[k].map((r) => r.rps)))} req/s, ` +
        `${Math.round(median(results[k].map((r) => r.us)))} µs/req, ${errors} errors in all${share}`,
    );
  }
  const ratio = median(results[0].map((r, i) => r.rps / results[1][i].rps));
  console.log(`clef-proxy / http-mitm-proxy throughput: ${ratio.toFixed(2)}× (median of per-round ratios)`);
  console.log(`load average (1 min): ${loadavg()[0].toFixed(2)}`);
} finally {
  for (const t of targets) await stopChild(t.child);
  await env.tearDown();
}
