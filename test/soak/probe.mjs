// The soak's latency probe, run as its own process so the load generator's busy event loop does not colour it:
// every 100 ms one GET through the proxy on a kept-alive connection for a 1-byte body, timed end to end. The
// proxy's event loop is not instrumented (that would need a hook in src/), so the worst probe latency is the
// stand-in for its worst event-loop delay: a blocked proxy loop delays every probe behind it.
// Env: SOAK_PROXY_URL, SOAK_PROXY_AUTH, SOAK_CA_FILES (JSON list), SOAK_PROBE_URL. On SIGTERM it stops, closes its
// connection and prints one line {"count","errors","max_ms","p50_ms","p99_ms","first_error"}.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProxyAgent, request } from 'undici';

const ca = JSON.parse(process.env.SOAK_CA_FILES ?? '[]').map((f) => readFileSync(f, 'utf8'));
const dispatcher = new ProxyAgent({
  uri: process.env.SOAK_PROXY_URL,
  token: process.env.SOAK_PROXY_AUTH,
  requestTls: { ca },
  connections: 1,
});
const url = process.env.SOAK_PROBE_URL;
const latencies = [];
let errors = 0;
let firstError;
let running = true;

process.on('SIGTERM', () => {
  running = false;
});

while (running) {
  const started = performance.now();
  try {
    const res = await request(url, { dispatcher });
    const body = await res.body.text();
    if (res.statusCode !== 200 || body !== 'p') throw new Error(`probe answered ${res.statusCode}`);
    latencies.push(performance.now() - started);
  } catch (err) {
    errors++;
    firstError ??= String(err?.message ?? err);
  }
  await sleep(Math.max(0, 100 - (performance.now() - started)));
}
await dispatcher.close();
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? null;
const round = (v) => (v === null ? null : Math.round(v * 10) / 10);
process.stdout.write(
  `${JSON.stringify({
    count: latencies.length,
    errors,
    max_ms: round(latencies.at(-1) ?? null),
    p50_ms: round(at(0.5)),
    p99_ms: round(at(0.99)),
    first_error: firstError ?? null,
  })}\n`,
);
