#!/usr/bin/env node
// The soak (`npm run test:soak`; not part of `npm test`): the real `clef-proxy serve` with a file audit sink, the
// fixture agent and an HTTPS upstream that closes idle keep-alives after 5 s, each a child process, under 200
// kept-alive clients plus 8 churning ones (a new connection per request), ~5 % deliberate client aborts, all three
// auth types and passthrough tunnels. Prints a table and exits 1 on any unexpected error, RSS growth ≥ 10 % after
// warm-up, file descriptors not back to the baseline 30 s after the clients left, an audit count that does not
// match what the clients did, or a serve that does not exit 0.
// Env: SOAK_SECONDS (default 600), SOAK_CLIENTS (200), SOAK_CHURN (8), SOAK_THINK_MS (20), SOAK_NEW_CONN_MS (50),
// SOAK_ABORT_RATE (0.05), SOAK_UPSTREAM_IDLE_MS (5000), SOAK_SETTLE_SECONDS (30); SOAK_SERVE_NODE_FLAGS (node
// flags for serve, e.g. --trace-gc); SOAK_KEEP=1 keeps the temp dir (audit file, config). Method and last result:
// docs/hardening.md.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  buildCli,
  fdCount,
  ROOT,
  rssMiB,
  startAgentChild,
  startProbe,
  startServe,
  startUpstreamChild,
  stopChild,
} from './children.mjs';
import { fdBreakdown, formatBreakdown } from './fds.mjs';
import { newCounters, runLoad } from './load.mjs';
import { report } from './report.mjs';

const num = (name, fallback) => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const SECONDS = num('SOAK_SECONDS', 600);
const CLIENTS = num('SOAK_CLIENTS', 200);
const CHURN = num('SOAK_CHURN', 8);
const UPSTREAM_IDLE_MS = num('SOAK_UPSTREAM_IDLE_MS', 5_000);
// Every descriptor must be back within the configured idle timeouts (idle_timeout_ms 10 s; the upstream pool
// keeps idle sockets min(idle, 30 s) = 10 s): 30 s after the clients left leaves margin on a busy machine.
const SETTLE_SECONDS = num('SOAK_SETTLE_SECONDS', 30);
const FD_SLACK = 5;
const log = (line) => process.stderr.write(`soak: ${line}\n`);

if (!(SECONDS >= 30) || !(CLIENTS >= 1)) {
  log('SOAK_SECONDS must be at least 30 (warm-up and end are 10 s windows) and SOAK_CLIENTS at least 1');
  process.exit(2);
}

const dir = await mkdtemp(join(tmpdir(), 'clef-proxy-soak-'));
const children = [];
let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  log(`failed: ${err?.stack ?? err}`);
} finally {
  for (const child of children.reverse()) await stopChild(child).catch(() => {});
  if (process.env.SOAK_KEEP) log(`kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
}
process.exit(exitCode);

async function main() {
  log(`building the CLI, then ${SECONDS} s with ${CLIENTS} kept-alive + ${CHURN} churning clients`);
  const bin = await buildCli(join(dir, 'build'));
  const secrets = { bearer: hex(), header: hex(), query: hex() };
  const agentToken = hex();
  const workloadToken = hex();
  const upstream = await startUpstreamChild(secrets, UPSTREAM_IDLE_MS);
  children.push(upstream.child);
  const host = `localhost:${upstream.port}`;
  const svc = (name, auth) => ({ name, hosts: [host], path_prefix: `/${name}`, auth });
  const agent = await startAgentChild(
    dir,
    {
      services: [
        svc('bearer', { type: 'bearer', secret: 'SOAK_BEARER' }),
        svc('header', { type: 'api_key_header', header: 'X-Api-Key', prefix: 'Key ', secret: 'SOAK_HEADER' }),
        svc('query', { type: 'api_key_query', param: 'api_key', secret: 'SOAK_QUERY' }),
      ],
      secrets: { SOAK_BEARER: secrets.bearer, SOAK_HEADER: secrets.header, SOAK_QUERY: secrets.query },
    },
    agentToken,
  );
  children.push(agent.child);
  const auditPath = join(dir, 'audit', 'audit.log');
  await mkdir(join(dir, 'audit'));
  const serve = await startServe(
    bin,
    dir,
    {
      listen: '127.0.0.1:0',
      ca_dir: join(dir, 'ca'),
      agent: { url: agent.url, services_refresh_ms: 5_000, secret_ttl_ms: 2_000 },
      passthrough_hosts: [`127.0.0.1:${upstream.port}`],
      audit: { sink: 'file', path: auditPath, max_bytes: 1024 * 1024 * 1024, max_files: 1 },
      upstream_ca_file: join(ROOT, 'fixtures/certs/ca.crt'),
      // Short, so the upstream pool's idle sockets (kept min(idle, 30 s)) are gone soon after the clients leave.
      limits: { idle_timeout_ms: 10_000 },
      // The service upstream is `localhost`: loopback must be allowed through the destination guard.
      egress: { allow_private: ['127.0.0.0/8', '::1/128'] },
      // Not 'warn': serve then never logs its 'listening' line (docs/hardening.md, bug 1).
      log_level: 'info',
    },
    { CLEF_PROXY_TOKEN: workloadToken, CLEF_PROXY_AGENT_TOKEN: agentToken },
    (process.env.SOAK_SERVE_NODE_FLAGS ?? '').split(' ').filter(Boolean),
  );
  children.push(serve.child);
  const pid = serve.child.pid;
  const caFiles = [join(dir, 'ca', 'ca.crt'), join(ROOT, 'fixtures/certs/ca.crt')];
  const ca = await Promise.all(caFiles.map((f) => readFile(f, 'utf8')));
  const proxyUrl = `http://127.0.0.1:${serve.port}`;
  const proxyAuth = `Basic ${Buffer.from(`soak:${workloadToken}`).toString('base64')}`;

  await sleep(1_000);
  const ports = {
    proxyPort: serve.port,
    upstreamPort: upstream.port,
    agentPort: Number(new URL(agent.url).port),
  };
  const fdBaseline = await fdCount(pid);
  const fdsAtStart = formatBreakdown(await fdBreakdown(pid, ports));
  const rssStart = await rssMiB(pid);
  const probe = startProbe({
    SOAK_PROXY_URL: proxyUrl,
    SOAK_PROXY_AUTH: proxyAuth,
    SOAK_CA_FILES: JSON.stringify(caFiles),
    SOAK_PROBE_URL: `https://${host}/bearer/probe`,
  });
  children.push(probe.child);

  const counters = newCounters();
  const started = Date.now();
  const endAt = started + SECONDS * 1000;
  const warmUpAt = started + Math.max(15, SECONDS * 0.2) * 1000;
  // RSS moves in a GC sawtooth: warm-up and end are each the median of the samples in a 10 s window (the first
  // 10 s after warm-up, the last 10 s of load), so one sample on a peak or in a trough cannot decide the verdict.
  const WINDOW_MS = 10_000;
  const warmWindow = [];
  const endWindow = [];
  const samples = { fdPeak: fdBaseline, rssPeak: rssStart, rssWarm: Number.NaN, rssEnd: Number.NaN };
  const sampler = (async () => {
    while (Date.now() < endAt) {
      await sleep(1_000);
      const [rss, fds] = await Promise.all([rssMiB(pid), fdCount(pid)]);
      const now = Date.now();
      samples.fdPeak = Math.max(samples.fdPeak, fds);
      samples.rssPeak = Math.max(samples.rssPeak, rss);
      // A sampler that lags (a saturated machine) may miss the window: then its first sample after warm-up counts.
      if (now >= warmUpAt && (now < warmUpAt + WINDOW_MS || warmWindow.length === 0)) warmWindow.push(rss);
      if (now >= endAt - WINDOW_MS) endWindow.push(rss);
      const done = counters.intercepted.completed + counters.plain.completed;
      if (Math.round((Date.now() - started) / 1000) % 30 === 0) {
        log(
          `${Math.round((Date.now() - started) / 1000)} s: ${done} requests, ${counters.errors} errors, ` +
            `rss ${rss.toFixed(1)} MiB, fds ${fds}`,
        );
      }
    }
    samples.rssWarm = median(warmWindow);
    samples.rssEnd = median(endWindow);
  })();
  await runLoad(
    {
      proxyUrl,
      proxyAuth,
      ca,
      upstreamPort: upstream.port,
      clients: CLIENTS,
      churn: CHURN,
      thinkMs: num('SOAK_THINK_MS', 20),
      newConnEveryMs: num('SOAK_NEW_CONN_MS', 50),
      abortRate: num('SOAK_ABORT_RATE', 0.05),
    },
    counters,
    () => Date.now() < endAt,
  );
  await sampler;
  probe.child.kill('SIGTERM');
  const probeResult = await probe.result;

  // Clients gone (every connection closed by them): SETTLE_SECONDS later the proxy must have let go of every
  // socket — the upstream pool's idle ones (≤ 10 s here) and those the upstream closed itself (after 5 s) too.
  const clientsGone = Date.now();
  await sleep(SETTLE_SECONDS * 1000);
  const fdAfter = await fdCount(pid);
  const fdsAtEnd = formatBreakdown(await fdBreakdown(pid, ports));
  log(
    `${SETTLE_SECONDS} s after the clients left: ${fdAfter} fds (${fdsAtEnd}); at start ${fdBaseline} (${fdsAtStart})`,
  );
  const rssAfter = await rssMiB(pid);
  const upstreamStats = await (await fetch(`http://127.0.0.1:${upstream.control}/stats`)).json();

  serve.child.kill('SIGTERM');
  const serveExit = await serve.exit;
  const audit = await readAudit(auditPath);
  return report({
    seconds: SECONDS,
    clients: CLIENTS,
    counters,
    probe: probeResult,
    samples,
    fd: {
      baseline: fdBaseline,
      after: fdAfter,
      slack: FD_SLACK,
      afterSeconds: Math.round((Date.now() - clientsGone) / 1000),
      startKinds: fdsAtStart,
      endKinds: fdsAtEnd,
    },
    churn: CHURN,
    upstreamIdleMs: UPSTREAM_IDLE_MS,
    rss: { start: rssStart, after: rssAfter },
    audit,
    upstream: upstreamStats,
    serveExit,
    serveProblems: serve.problems,
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor(sorted.length / 2)] : Number.NaN;
}

function hex() {
  return randomBytes(16).toString('hex');
}

/** Count the audit file's events (all rotated files too, though max_bytes is set so none rotate). */
async function readAudit(path) {
  const counts = { request: 0, tunnel: 0, deny: 0, other: 0, reasons: new Map() };
  const tally = (key) => counts.reasons.set(key, (counts.reasons.get(key) ?? 0) + 1);
  const names = (await readdir(join(path, '..'))).filter((n) => n.startsWith('audit.log'));
  for (const name of names) {
    for (const line of (await readFile(join(path, '..', name), 'utf8')).split('\n')) {
      if (!line) continue;
      const ev = JSON.parse(line);
      if (ev.event === 'request' || ev.event === 'tunnel' || ev.event === 'deny') counts[ev.event]++;
      else counts.other++;
      tally(`${ev.event} ${ev.decision}/${ev.reason ?? ev.status ?? 'ok'}`);
    }
  }
  return counts;
}
