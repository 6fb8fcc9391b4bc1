// The benchmark's report: the targets with pass/miss, and plain-text tables for the terminal.

const num = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');
const pct = (v, digits = 0) => (typeof v === 'number' ? `${(v * 100).toFixed(digits)} %` : '-');
// Targets show two decimals, so a 24.96 % miss never reads as "25 %".
const pct1 = (v) => pct(v, 2);

/**
 * The performance targets (issue 15, round 2), each evaluated against `results` (null `pass` when not measured).
 * Throughput and CPU targets read the native client (hey) when it ran, else undici; the c=1 latency target reads
 * undici, because hey prints latencies in 0.1 ms steps.
 * @param {any} r the results object built by bench/run.mjs
 */
export function evaluateTargets(r) {
  const s = r.scenarios ?? {};
  const pick = (name) => s[name]?.native ?? s[name];
  const by = (name) => (s[name]?.native ? 'hey' : s[name] ? (s[name].client ?? 'undici') : '');
  const loadRss = Object.values(s).flatMap((x) =>
    [x.rounds?.proxy, x.native?.rounds?.proxy].flatMap((rs) => (rs ?? []).map((y) => y.proxy_rss_mib)),
  );
  const maxOf = (xs) => {
    const v = xs.filter((x) => typeof x === 'number');
    return v.length ? Math.max(...v) : undefined;
  };
  const ms = (v) => `${num(v, 3)} ms`;
  const mib = (v) => `${num(v)} MiB`;
  const rows = [
    [
      'keep-alive c=32 throughput',
      '≥ 30 % of direct',
      by('ka-c32'),
      pick('ka-c32')?.ratio.rps,
      (v) => v >= 0.3,
      pct1,
    ],
    ['keep-alive c=1 added p50', '≤ 0.15 ms', 'undici', s['ka-c1']?.ratio.added_p50_ms, (v) => v <= 0.15, ms],
    [
      'new connections/s (c=8)',
      '≥ 45 % of direct',
      by('newconn-c8'),
      pick('newconn-c8')?.ratio.rps,
      (v) => v >= 0.45,
      pct1,
    ],
    [
      '1 MiB downloads (c=4)',
      '≥ 50 % of direct',
      by('download-1m-c4'),
      pick('download-1m-c4')?.ratio.mib_s,
      (v) => v >= 0.5,
      pct1,
    ],
    [
      'proxy CPU per kept-alive request (c=32)',
      '≤ 90 µs',
      by('ka-c32'),
      pick('ka-c32')?.proxy.proxy_cpu_us_per_req,
      (v) => v <= 90,
      (v) => `${num(v, 0)} µs`,
    ],
    ['proxy RSS, fresh', '≤ 100 MiB', '', r.idle?.proxy?.rss_before_mib, (v) => v <= 100, mib],
    ['proxy RSS under load (max)', '≤ 100 MiB', 'all', maxOf(loadRss), (v) => v <= 100, mib],
    [
      `proxy RSS after load, ${r.settled?.after_s ?? 25} s idle`,
      '≤ 100 MiB',
      '',
      r.settled?.proxy_rss_mib,
      (v) => v <= 100,
      mib,
    ],
    [
      `proxy RSS with ${r.idle?.proxy?.connections ?? 1000} idle MITM'd connections`,
      '≤ 250 MiB',
      '',
      r.idle?.proxy?.rss_open_mib,
      (v) => v <= 250,
      mib,
    ],
    ['cold leaf mint (p50)', '≤ 3 ms', '', r.leaf?.cold_mint_ms_p50, (v) => v <= 3, (v) => `${num(v, 2)} ms`],
    ['leaf cache hit', '≤ 5 µs', '', r.leaf?.cache_hit_us, (v) => v <= 5, (v) => `${num(v, 3)} µs`],
    [
      'admin + /metrics 1/s, keep-alive c=32',
      '≥ 97 % of no admin',
      r.variants?.['metrics-cost'] ? 'undici' : '',
      r.variants?.['metrics-cost']?.variants['admin-on']?.rps_vs_baseline,
      (v) => v >= 0.97,
      pct1,
    ],
    [
      'spawn → listening (p50, CA on disk)',
      '≤ 400 ms',
      '',
      r.startup?.listening_ms_p50,
      (v) => v <= 400,
      (v) => `${num(v, 0)} ms`,
    ],
  ];
  return rows.map(([target, goal, client, value, ok, show]) => {
    const measured = typeof value === 'number' && Number.isFinite(value) ? value : null;
    return {
      target,
      goal,
      client,
      measured,
      shown: measured === null ? '-' : show(measured),
      pass: measured === null ? null : ok(measured),
    };
  });
}

/** ` (lo–hi)` of the per-round ratios, in percent, when there was more than one round. */
function spread(xs) {
  const v = (xs ?? []).filter((x) => typeof x === 'number');
  if (v.length < 2) return '';
  return ` (${(Math.min(...v) * 100).toFixed(0)}–${(Math.max(...v) * 100).toFixed(0)})`;
}

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) =>
    cells
      .map((c, i) => String(c).padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * The whole report as text: load scenarios (medians), idle connections, leaf, start-up, targets.
 * @param {any} r
 * @param {ReturnType<typeof evaluateTargets>} targets
 */
export function formatReport(r, targets) {
  const out = [];
  const loadRows = [];
  const runs = Object.entries(r.scenarios ?? {}).flatMap(([name, x]) => [
    [name, x.client ?? 'undici', x],
    ...(x.native ? [[name, 'hey', x.native]] : []),
  ]);
  for (const [name, client, s] of runs) {
    for (const path of ['direct', 'proxy']) {
      const m = s[path];
      loadRows.push([
        path === 'direct' ? name : '',
        path === 'direct' ? client : '',
        path,
        num(m.rps, 0),
        num(m.p50_ms, 3),
        num(m.p99_ms, 3),
        num(m.mib_s),
        path === 'proxy' ? num(m.proxy_cpu_us_per_req, 0) : '',
        `${num(m.upstream_cpu_us_per_req, 0)} / ${num(m.client_cpu_us_per_req, 0)}`,
        path === 'proxy' ? num(m.proxy_rss_mib) : '',
        path === 'proxy' ? `${pct(s.ratio.rps)}${spread(s.ratio.rps_by_round)}` : '',
        path === 'proxy' ? num(s.ratio.added_p50_ms, 3) : '',
        path === 'proxy' ? pct(s.ratio.cpu_ceiling) : '',
        num(m.loadavg_1m),
      ]);
    }
  }
  if (loadRows.length) {
    const head = [
      'scenario',
      'client',
      'path',
      'req/s',
      'p50 ms',
      'p99 ms',
      'MiB/s',
      'proxy CPU µs/req',
      'upstream / client CPU µs/req',
      'proxy RSS MiB',
    ];
    out.push(table([...head, 'proxy/direct (rounds)', '+p50 ms', 'CPU ceiling', 'load 1m'], loadRows), '');
  }
  if (r.idle) {
    const rows = Object.entries(r.idle).map(([path, x]) => [
      path === 'proxy' ? 'proxy (MITM)' : 'direct (upstream)',
      x.connections,
      x.failed,
      num(x.rss_before_mib),
      num(x.rss_open_mib),
      num(x.kib_per_connection, 0),
      num(x.rss_after_close_mib),
    ]);
    const head = [
      'idle connections',
      'open',
      'failed',
      'RSS before',
      'RSS open',
      'KiB/conn',
      'RSS after close',
    ];
    out.push(table(head, rows), '');
  }
  const variantRows = Object.entries(r.variants ?? {}).flatMap(([name, x]) =>
    Object.entries(x.variants).map(([v, m], i) => [
      i === 0 ? name : '',
      v,
      m.processes,
      num(m.rps, 0),
      num(m.p50_ms, 3),
      num(m.p99_ms, 3),
      num(m.proxy_cpu_us_per_req, 0),
      num(m.proxy_rss_mib),
      i === 0 ? 'baseline' : `${pct(m.rps_vs_baseline)}${spread(m.rps_vs_baseline_by_round)}`,
      m.scrapes === undefined ? '' : `${num(m.scrapes, 0)} / ${num(m.scrape_failures, 0)}`,
      num(m.errors, 0),
      num(m.loadavg_1m),
    ]),
  );
  if (variantRows.length) {
    const head = ['variants (ka-c32 proxy path)', 'variant', 'processes', 'req/s', 'p50 ms', 'p99 ms'];
    const tail = [
      'proxy CPU µs/req (all)',
      'proxy RSS MiB (all)',
      'vs baseline (rounds)',
      'scrapes ok / failed',
    ];
    out.push(table([...head, ...tail, 'errors', 'load 1m'], variantRows), '');
  }
  if (r.websocket) {
    const w = r.websocket;
    out.push(
      `ws-echo (${w.connections} WebSockets, ${w.message_bytes}-byte round trips): direct ${num(w.direct_msgs_s, 0)} ` +
        `msg/s, proxy ${num(w.proxy_msgs_s, 0)} msg/s, proxy/direct ${pct(w.ratio)}${spread(w.ratio_by_round)}`,
    );
  }
  if (r.h2) {
    const h = r.h2;
    out.push(
      `h2-c32 (${h.streams} concurrent streams on one HTTP/2 connection): direct ${num(h.direct_req_s, 0)} req/s, ` +
        `proxy ${num(h.proxy_req_s, 0)} req/s, proxy/direct ${pct(h.ratio)}${spread(h.ratio_by_round)}`,
    );
  }
  if (r.leaf) {
    const l = r.leaf;
    out.push(
      `leaf: cold mint p50 ${num(l.cold_mint_ms_p50, 2)} ms (p99 ${num(l.cold_mint_ms_p99, 2)}), certificate only ` +
        `p50 ${num(l.mint_cert_ms_p50, 2)} ms, cache hit ${num(l.cache_hit_us, 3)} µs`,
    );
  }
  if (r.startup) {
    const st = r.startup;
    out.push(
      `start-up to listening: p50 ${num(st.listening_ms_p50, 0)} ms over ${st.warm_ms.length} warm starts ` +
        `[${st.warm_ms.map((x) => x.toFixed(0)).join(', ')}]; first start${st.first_start_generated_ca ? ' (CA generated)' : ''} ${num(st.first_start_ms, 0)} ms`,
    );
  }
  if (r.websocket || r.h2 || r.leaf || r.startup) out.push('');
  const verdict = (p) => (p === null ? 'n/a' : p ? 'pass' : 'MISS');
  out.push(
    table(
      ['target', 'goal', 'client', 'measured', ''],
      targets.map((t) => [t.target, t.goal, t.client, t.shown, verdict(t.pass)]),
    ),
  );
  return out.join('\n');
}
