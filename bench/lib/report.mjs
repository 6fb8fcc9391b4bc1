// The benchmark's report: the targets with pass/miss, and plain-text tables for the terminal.

const num = (v, digits = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');
const pct = (v, digits = 0) => (typeof v === 'number' ? `${(v * 100).toFixed(digits)} %` : '-');
// Targets show two decimals, so a 24.96 % miss never reads as "25 %".
const pct1 = (v) => pct(v, 2);

/**
 * The performance targets of the issue, each evaluated against `results` (null `pass` when not measured).
 * @param {any} r the results object built by bench/run.mjs
 */
export function evaluateTargets(r) {
  const s = r.scenarios ?? {};
  const kaRss = ['ka-c1', 'ka-c32'].flatMap((n) => s[n]?.rounds.proxy.map((x) => x.proxy_rss_mib) ?? []);
  const rows = [
    ['keep-alive c=32 throughput', '≥ 25 % of direct', s['ka-c32']?.ratio.rps, (v) => v >= 0.25, pct1],
    [
      'keep-alive c=1 added p50',
      '≤ 0.2 ms',
      s['ka-c1']?.ratio.added_p50_ms,
      (v) => v <= 0.2,
      (v) => `${num(v, 3)} ms`,
    ],
    ['new connections/s (c=8)', '≥ 40 % of direct', s['newconn-c8']?.ratio.rps, (v) => v >= 0.4, pct1],
    ['1 MiB downloads (c=4)', '≥ 50 % of direct', s['download-1m-c4']?.ratio.mib_s, (v) => v >= 0.5, pct1],
    [
      'proxy CPU per kept-alive request (c=32)',
      '≤ 100 µs',
      s['ka-c32']?.proxy.proxy_cpu_us_per_req,
      (v) => v <= 100,
      (v) => `${num(v, 0)} µs`,
    ],
    [
      'proxy RSS after keep-alive runs (max)',
      '≤ 80 MiB',
      kaRss.length ? Math.max(...kaRss.filter((x) => x !== null)) : undefined,
      (v) => v <= 80,
      (v) => `${num(v)} MiB`,
    ],
    [
      `proxy RSS with ${r.idle?.proxy?.connections ?? 1000} idle MITM'd connections`,
      '≤ 250 MiB',
      r.idle?.proxy?.rss_open_mib,
      (v) => v <= 250,
      (v) => `${num(v)} MiB`,
    ],
    ['cold leaf mint (p50)', '≤ 3 ms', r.leaf?.cold_mint_ms_p50, (v) => v <= 3, (v) => `${num(v, 2)} ms`],
    ['leaf cache hit', '≤ 5 µs', r.leaf?.cache_hit_us, (v) => v <= 5, (v) => `${num(v, 3)} µs`],
    [
      'spawn → listening (p50, CA on disk)',
      '≤ 400 ms',
      r.startup?.listening_ms_p50,
      (v) => v <= 400,
      (v) => `${num(v, 0)} ms`,
    ],
  ];
  return rows.map(([target, goal, value, ok, show]) => {
    const measured = typeof value === 'number' && Number.isFinite(value) ? value : null;
    return {
      target,
      goal,
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
  for (const [name, s] of Object.entries(r.scenarios ?? {})) {
    for (const path of ['direct', 'proxy']) {
      const m = s[path];
      loadRows.push([
        path === 'direct' ? name : '',
        path,
        num(m.rps, 0),
        num(m.p50_ms, 3),
        num(m.p99_ms, 3),
        num(m.mib_s),
        path === 'proxy' ? num(m.proxy_cpu_us_per_req, 0) : '',
        path === 'proxy' ? num(m.proxy_rss_mib) : '',
        path === 'proxy' ? `${pct(s.ratio.rps)}${spread(s.ratio.rps_by_round)}` : '',
        path === 'proxy' ? num(s.ratio.added_p50_ms, 3) : '',
      ]);
    }
  }
  if (loadRows.length) {
    const head = [
      'scenario',
      'path',
      'req/s',
      'p50 ms',
      'p99 ms',
      'MiB/s',
      'proxy CPU µs/req',
      'proxy RSS MiB',
    ];
    out.push(table([...head, 'proxy/direct (rounds)', '+p50 ms'], loadRows), '');
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
  if (r.leaf || r.startup) out.push('');
  const verdict = (p) => (p === null ? 'n/a' : p ? 'pass' : 'MISS');
  out.push(
    table(
      ['target', 'goal', 'measured', ''],
      targets.map((t) => [t.target, t.goal, t.shown, verdict(t.pass)]),
    ),
  );
  return out.join('\n');
}
