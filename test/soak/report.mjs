// The soak's verdict and its table (Markdown, so a run can be pasted into docs/hardening.md as it is).

const RSS_GROWTH_LIMIT = 0.1;
const f1 = (v) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(1) : String(v));

/** Print the table on stdout; resolve with the exit code (0 pass, 1 fail). */
export function report(r) {
  const { counters: c, probe, samples, fd, rss, audit, upstream } = r;
  const failures = [];
  const errors = c.errors + (probe.errors ?? 0);
  if (errors > 0) failures.push(`${errors} unexpected errors`);
  const growth = (samples.rssEnd - samples.rssWarm) / samples.rssWarm;
  if (!(growth < RSS_GROWTH_LIMIT)) failures.push(`RSS grew ${f1(growth * 100)} % after warm-up`);
  if (fd.after > fd.baseline + fd.slack) failures.push(`fds ${fd.after} vs baseline ${fd.baseline}`);
  // Every intercepted request the clients finished or aborted after its first body bytes, and every probe.
  const expectedRequests = c.intercepted.completed + c.intercepted.aborted + (probe.count ?? 0);
  if (audit.request !== expectedRequests) {
    failures.push(`audit has ${audit.request} request events, clients account for ${expectedRequests}`);
  }
  // Every TCP connection the upstream accepted is either the proxy's own (TLS with SNI) or a tunnel.
  const tunnels = upstream.tcp - upstream.tls_sni;
  if (audit.tunnel !== tunnels)
    failures.push(`audit has ${audit.tunnel} tunnel events, the upstream saw ${tunnels} tunnels`);
  if (audit.deny > 0 || audit.other > 0) failures.push(`${audit.deny + audit.other} unexpected audit events`);
  if (r.serveExit.code !== 0) failures.push(`serve exited ${r.serveExit.code ?? r.serveExit.signal}`);

  const totalDone = c.intercepted.completed + c.plain.completed;
  const reasons = [...audit.reasons].map(([k, n]) => `${k}: ${n}`).join(', ');
  const rows = [
    [
      'duration, load',
      `${r.seconds} s, ${r.clients} kept-alive clients + ${r.churn} churning (a new connection per request); ` +
        `upstream closes idle keep-alives after ${r.upstreamIdleMs / 1000} s`,
    ],
    [
      'requests completed',
      `${totalDone} (intercepted ${c.intercepted.completed}, passthrough ${c.plain.completed}; ` +
        `${c.newConnections} on new connections) + ${probe.count ?? 0} probes`,
    ],
    [
      'deliberate client aborts',
      `${c.intercepted.aborted + c.plain.aborted} (intercepted ${c.intercepted.aborted}, passthrough ${c.plain.aborted})`,
    ],
    [
      'unexpected errors',
      `${errors}${c.errorKinds.size ? ` — ${[...c.errorKinds].map(([k, n]) => `${k} ×${n}`).join('; ')}` : ''}${probe.first_error ? ` — probe: ${probe.first_error}` : ''}`,
    ],
    [
      'RSS MiB: start / warm-up (median) / peak / end of load (median) / clients gone',
      [rss.start, samples.rssWarm, samples.rssPeak, samples.rssEnd, rss.after].map(f1).join(' / '),
    ],
    [
      'RSS growth after warm-up',
      `${growth >= 0 ? '+' : ''}${f1(growth * 100)} % (limit < ${RSS_GROWTH_LIMIT * 100} %)`,
    ],
    [
      `fds: baseline / peak / ${fd.afterSeconds} s after the clients left`,
      `${fd.baseline} / ${samples.fdPeak} / ${fd.after} (limit baseline + ${fd.slack})`,
    ],
    ['fds by kind: at start / at the end', `${fd.startKinds} / ${fd.endKinds}`],
    [
      'probe latency ms: p50 / p99 / max (event-loop stand-in)',
      `${f1(probe.p50_ms)} / ${f1(probe.p99_ms)} / ${f1(probe.max_ms)}`,
    ],
    ['audit request events vs clients', `${audit.request} vs ${expectedRequests}`],
    [
      'audit tunnel events vs upstream tunnels',
      `${audit.tunnel} vs ${tunnels} (${upstream.tls_no_sni} finished their TLS handshake)`,
    ],
    ['audit deny / unknown events', `${audit.deny} / ${audit.other}`],
    ['audit events by kind, decision/reason', reasons],
    ['upstream: requests / credential rejected', `${upstream.requests} / ${upstream.rejected}`],
    [
      'serve warn/error lines',
      `${r.serveProblems.length}${r.serveProblems.length ? ` — first: ${r.serveProblems[0].slice(0, 160)}` : ''}`,
    ],
    ['serve exit after SIGTERM', `${r.serveExit.code ?? r.serveExit.signal}`],
    ['verdict', failures.length ? `FAIL: ${failures.join('; ')}` : 'PASS'],
  ];
  const out = ['| measure | result |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  process.stdout.write(`${out}\n`);
  return failures.length ? 1 : 0;
}
