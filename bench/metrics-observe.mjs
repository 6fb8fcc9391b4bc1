#!/usr/bin/env node
import { serializeEvent } from '../dist/audit/serialize.js';
// The metrics cost on the data path, measured in-process (docs/performance.md, "Admin and metrics"): what one
// audit event costs the observer (tally.observe), against what serializing the same event for the audit log costs.
// Needs dist/ (npm run build). Steady-state CPU per call, so it holds on a busy machine better than throughput.
import { createTally } from '../dist/metrics/tally.js';

const N = Number(process.argv[2] ?? 2_000_000);
const event = (i) => ({
  schema_version: 1,
  ts: '2026-12-04T12:00:00.000Z',
  conn_id: `c${i}`,
  client: '127.0.0.1:50000',
  host: 'api.example.com',
  port: 443,
  event: 'request',
  request_id: `c${i}.1`,
  method: 'GET',
  path: '/v1/items',
  service: `svc${i % 8}`,
  auth_type: 'bearer',
  secret_ref: 'K',
  decision: 'inject',
  status: 200,
  bytes_in: 0,
  bytes_out: 64,
  duration_ms: 0.4 + (i % 50) / 10,
  via_upstream_proxy: false,
});
const events = Array.from({ length: 1024 }, (_, i) => event(i));

function time(label, fn) {
  for (let i = 0; i < N / 10; i++) fn(events[i & 1023]); // warm-up
  const best = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(events[i & 1023]);
    const t = process.cpuUsage(t0);
    best.push(((t.user + t.system) * 1000) / N);
  }
  best.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(28)} ${best[0].toFixed(0)} ns/event (best of 5), median ${best[2].toFixed(0)} ns`,
  );
  return best[2];
}

const tally = createTally();
let sink = 0;
const observe = time('tally.observe', (e) => tally.observe(e));
const serialize = time('serializeEvent (audit line)', (e) => {
  sink += serializeEvent(e).length;
});
console.log(`observe / serialize: ${((observe / serialize) * 100).toFixed(0)} %  (${sink > 0 ? 'ok' : ''})`);
