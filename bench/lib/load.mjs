// The closed-loop load generator: `concurrency` workers, each sending one request at a time on an undici Pool
// and reading the whole response body before the next. The same code drives the direct and the proxy path;
// only the Pool's connector differs (connectors.mjs).
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { cpuMicros, rssMiB, treeCpuMicros, treeRssMiB } from './proc-stats.mjs';
import { quantile } from './stats.mjs';

/**
 * @typedef {object} LoadSpec
 * @property {(opts: any, cb: any) => void} connector  undici connect function
 * @property {string} origin         `https://host:port` of the upstream
 * @property {number} concurrency    workers = pool connections
 * @property {number} durationMs     measured window
 * @property {number} warmupMs       unmeasured lead-in (connections opened, JIT warm)
 * @property {'GET' | 'POST'} method
 * @property {string} path
 * @property {Buffer} [body]         request body (uploads)
 * @property {boolean} [newConnection]  `reset: true`: Connection: close, one connection per request
 * @property {{ proxy?: number, upstream?: number, proxyTree?: boolean }} pids  processes whose CPU and RSS are
 *   read; `proxyTree`: the proxy's descendants too (a `workers` primary and its workers)
 */

/**
 * Run one measured load and summarise it. Non-200 answers and transport errors count as errors, not samples.
 * @param {LoadSpec} spec
 */
export async function runLoad(spec) {
  const pool = new Pool(spec.origin, {
    connections: spec.concurrency,
    pipelining: 1,
    connect: spec.connector,
    keepAliveTimeout: 120_000,
    keepAliveMaxTimeout: 120_000,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const latencies = [];
  let measuring = false;
  let stop = false;
  let errors = 0;
  let bytes = 0;
  let lastError;
  const request = {
    method: spec.method,
    path: spec.path,
    ...(spec.body ? { body: spec.body, headers: { 'content-type': 'application/octet-stream' } } : {}),
    ...(spec.newConnection ? { reset: true } : {}),
  };

  const worker = async () => {
    while (!stop) {
      const t0 = process.hrtime.bigint();
      let n = 0;
      let ok = false;
      try {
        const res = await pool.request(request);
        for await (const chunk of res.body) n += chunk.length;
        ok = res.statusCode === 200;
        if (!ok) lastError = `status ${res.statusCode}`;
      } catch (err) {
        lastError = err.message;
        // A refused or broken connection would otherwise spin this loop hot.
        await sleep(10);
      }
      if (!measuring) continue;
      if (ok) {
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        bytes += n;
      } else errors += 1;
    }
  };

  const workers = Array.from({ length: spec.concurrency }, worker);
  await sleep(spec.warmupMs);
  const cpu0 = readCpu(spec.pids);
  // The client's own CPU (this process: undici and the load loop; the runner does nothing else meanwhile).
  const client0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  measuring = true;
  await sleep(spec.durationMs);
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu1 = readCpu(spec.pids);
  const client = process.cpuUsage(client0);
  stop = true;
  await Promise.all(workers);
  await pool.close();

  const requests = latencies.length;
  const perReq = (a, b) => (a !== null && b !== null && requests > 0 ? (b - a) / requests : null);
  return {
    requests,
    errors,
    ...(errors && lastError ? { last_error: lastError } : {}),
    rps: requests / seconds,
    p50_ms: quantile(latencies, 0.5),
    p99_ms: quantile(latencies, 0.99),
    mib_s:
      bytes / seconds / (1 << 20) + (spec.body ? (requests * spec.body.length) / seconds / (1 << 20) : 0),
    proxy_cpu_us_per_req: perReq(cpu0.proxy, cpu1.proxy),
    upstream_cpu_us_per_req: perReq(cpu0.upstream, cpu1.upstream),
    client_cpu_us_per_req: perReq(0, client.user + client.system),
    proxy_rss_mib: spec.pids.proxy ? (spec.pids.proxyTree ? treeRssMiB : rssMiB)(spec.pids.proxy) : null,
  };
}

function readCpu(pids) {
  return {
    proxy: pids.proxy ? (pids.proxyTree ? treeCpuMicros : cpuMicros)(pids.proxy) : null,
    upstream: pids.upstream ? cpuMicros(pids.upstream) : null,
  };
}
