#!/usr/bin/env node
// Leaf minting cost (SPEC §4), measured on the built code (dist/tls) in a process of its own, so nothing else
// shares its event loop. The same measurement as bench/leaf.bench.ts (vitest), folded into `npm run bench`.
// Prints one JSON line. Usage: node bench/lib/leaf.mjs [samples]
import { generateCa } from '../../dist/tls/ca-generate.js';
import { validateCaPair } from '../../dist/tls/ca-validate.js';
import { createLeafCache } from '../../dist/tls/leaf-cache.js';
import { createLeafKey, mintLeaf } from '../../dist/tls/mint-leaf.js';
import { median, quantile } from './stats.mjs';

const samples = Number(process.argv[2] ?? 300);
const pems = await generateCa({ hostname: 'bench' });
const check = await validateCaPair(pems.certPem, pems.keyPem);
if (!check.ok) throw new Error(check.why);
const ca = check.ca;
const leafKey = await createLeafKey();

const cache = createLeafCache({ ca, size: 1_000_000 });
// Warm the cache's leaf key and the CA's issuer memo, so every sample below is a true cold mint of one host.
await cache.get('warm.bench.test', 'name');
await mintLeaf(ca, leafKey, 'warm.bench.test', 'name');

async function time(fn) {
  const out = [];
  for (let i = 0; i < samples; i++) {
    const t0 = process.hrtime.bigint();
    await fn(i);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

const certOnly = await time((i) => mintLeaf(ca, leafKey, `h${i}.bench.test`, 'name'));
const miss = await time((i) => cache.get(`c${i}.bench.test`, 'name'));

// A hit is sub-microsecond: time batches and divide, rather than timing single calls.
const hitCache = createLeafCache({ ca, size: 16 });
await hitCache.get('hit.bench.test', 'name');
const BATCH = 200_000;
const hitNs = [];
for (let b = 0; b < 7; b++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < BATCH; i++) {
    if (hitCache.get('hit.bench.test', 'name') instanceof Promise) throw new Error('expected a hit');
  }
  hitNs.push(Number(process.hrtime.bigint() - t0) / BATCH);
}

process.stdout.write(
  `${JSON.stringify({
    samples,
    mint_cert_ms_p50: median(certOnly),
    mint_cert_ms_p99: quantile(certOnly, 0.99),
    cold_mint_ms_p50: median(miss),
    cold_mint_ms_p99: quantile(miss, 0.99),
    cache_hit_us: median(hitNs) / 1000,
  })}\n`,
);
