// The native load client: `hey` (Go; Debian package `hey`), the cross-check on the undici client. A Go client
// spends less CPU per request than undici on this small machine and shares none of the proxy's runtime, so its
// figures say how much of a ratio is the Node client. It reaches the proxy path the way a workload does: with
// `-x http://bench:<token>@127.0.0.1:<port>` Go sends `CONNECT host:port` with Proxy-Authorization (from the URL's
// userinfo; Go sends no other header on a CONNECT), then TLS inside the tunnel. hey does not verify certificates
// and cannot look at response headers, so the upstream checks instead: the bench adds `?expect=yes` on the proxy
// path and `?expect=no` on the direct path, and the upstream answers 403 to any request whose credential does not
// match (setup.mjs, nginx.mjs, upstream-server.mjs). Every hey response is checked that way, and a non-200 is an
// error. The one-off workload token is on hey's command line (visible in `ps` on this machine for the run).
import { execFileSync, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { cpuMicros, rssMiB } from './proc-stats.mjs';

/** The hey binary on PATH, or undefined. */
export function findHey() {
  try {
    return execFileSync('sh', ['-c', 'command -v hey'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Parse hey's summary (hey 0.1.x text output): responses by status, errors, req/s and latency quantiles.
 * @param {string} text
 */
export function parseHeyOutput(text) {
  const seconds = (label) => {
    const m = new RegExp(`^\\s*${label}:\\s+([\\d.]+) secs`, 'm').exec(text);
    return m ? Number(m[1]) : null;
  };
  const quantileMs = (q) => {
    const m = new RegExp(`^\\s*${q}% in ([\\d.]+) secs`, 'm').exec(text);
    return m ? Number(m[1]) * 1000 : null;
  };
  const statuses = {};
  const statusBlock = /Status code distribution:\n((?:\s+\[\d+\]\s+\d+ responses\n?)*)/.exec(text)?.[1] ?? '';
  for (const m of statusBlock.matchAll(/\[(\d+)\]\s+(\d+) responses/g)) statuses[m[1]] = Number(m[2]);
  let transportErrors = 0;
  let firstError;
  const errorBlock = /Error distribution:\n([\s\S]*)$/.exec(text)?.[1] ?? '';
  for (const m of errorBlock.matchAll(/^\s+\[(\d+)\]\s+(.*)$/gm)) {
    transportErrors += Number(m[1]);
    firstError ??= m[2].slice(0, 200);
  }
  const total = seconds('Total');
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  return {
    total_s: total,
    rps: rps ? Number(rps[1]) : null,
    ok: statuses['200'] ?? 0,
    statuses,
    transport_errors: transportErrors,
    first_error: firstError,
    p50_ms: quantileMs(50),
    p99_ms: quantileMs(99),
  };
}

/**
 * hey's arguments for a timed run at `concurrency`. `-t 0` turns off hey's per-request timeout (default 20 s): with
 * one, Go's client (hey 0.1.4 is built with Go 1.19) cancels the connection a request started dialling as soon as
 * that request is served by a connection freed in the meantime, so at saturation through a proxy hundreds of
 * `CONNECT`s per run are abandoned half-way (each one a connection and often a handshake the proxy pays for, with
 * no request on it). Measured on one machine, same command: 7,207 req/s through the proxy with `-t 0`, 2,625
 * with the default. Without a timeout the dial finishes and its connection joins hey's pool.
 * @param {number} durationMs
 * @param {number} concurrency
 */
function heyLoadArgs(durationMs, concurrency) {
  return ['-z', `${durationMs / 1000}s`, '-c', String(concurrency), '-t', '0', '-disable-compression'];
}

/**
 * One measured hey run. CPU per request is the proxy's (and upstream's) utime+stime over hey's whole run,
 * connection set-up included, divided by the responses hey counted.
 * @param {{ bin: string, url: string, proxyUrl?: string, concurrency: number, durationMs: number,
 *   method: 'GET' | 'POST', bodyFile?: string, bodyBytes?: number, responseBytes?: number,
 *   newConnection?: boolean, pids: { proxy?: number, upstream?: number },
 *   cpuOf?: (pid: number) => number }} o  cpuOf: how a pid's CPU is read (default its own utime+stime)
 */
export async function runHey(o) {
  const args = heyLoadArgs(o.durationMs, o.concurrency);
  if (o.proxyUrl) args.push('-x', o.proxyUrl);
  if (o.newConnection) args.push('-disable-keepalive');
  if (o.method === 'POST') args.push('-m', 'POST', '-T', 'application/octet-stream', '-D', o.bodyFile);
  args.push(o.url);
  const cpu = (pid) => (pid ? (o.cpuOf ?? cpuMicros)(pid) : null);
  const cpu0 = { proxy: cpu(o.pids.proxy), upstream: cpu(o.pids.upstream) };
  const { stdout, code, clientCpuUs } = await run(o.bin, args);
  const cpu1 = { proxy: cpu(o.pids.proxy), upstream: cpu(o.pids.upstream) };
  const r = parseHeyOutput(stdout);
  if (code !== 0 || r.rps === null) throw new Error(`hey exited ${code}: ${stdout.slice(0, 400)}`);
  const errors = r.transport_errors + Object.values(r.statuses).reduce((a, n) => a + n, 0) - r.ok;
  const perReq = (a, b) => (a !== null && b !== null && r.ok > 0 ? (b - a) / r.ok : null);
  // hey's own req/s counts every response; throughput here counts only the checked (200) ones.
  const rps = r.total_s ? r.ok / r.total_s : r.rps;
  const bytesPerReq = (o.responseBytes ?? 0) + (o.bodyBytes ?? 0);
  return {
    requests: r.ok,
    errors,
    ...(errors ? { last_error: r.first_error ?? `statuses ${JSON.stringify(r.statuses)}` } : {}),
    rps,
    p50_ms: r.p50_ms,
    p99_ms: r.p99_ms,
    mib_s: (rps * bytesPerReq) / (1 << 20),
    proxy_cpu_us_per_req: perReq(cpu0.proxy, cpu1.proxy),
    upstream_cpu_us_per_req: perReq(cpu0.upstream, cpu1.upstream),
    client_cpu_us_per_req: perReq(0, clientCpuUs),
    proxy_rss_mib: o.pids.proxy ? rssMiB(o.pids.proxy) : null,
    loadavg_1m: loadavg()[0],
  };
}

/**
 * Run hey under `sh`, whose `times` builtin then prints the CPU time (user, system) of its finished children:
 * hey's own CPU, so the report can set the client's cost next to the proxy's and the upstream's.
 */
function run(bin, args) {
  return new Promise((resolve, reject) => {
    const script = '"$0" "$@"; s=$?; echo "@@times"; times; exit $s';
    const child = spawn('sh', ['-c', script, bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stdout += c;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const at = stdout.lastIndexOf('@@times');
      const tail = at < 0 ? '' : stdout.slice(at);
      // The last "XmY.YYs XmY.YYs" line is the children's user and system time.
      const m = [...tail.matchAll(/(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/g)].at(-1);
      const clientCpuUs = m
        ? (Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4])) * 1e6
        : null;
      resolve({ stdout: at < 0 ? stdout : stdout.slice(0, at), code, clientCpuUs });
    });
  });
}
