/**
 * Leaf minting cost (SPEC §4, STYLE habit 8). Targets: a cold mint (new host, leaf key already made) ≤ 3 ms
 * median; a cache hit ≤ 5 µs. Run with `npx vitest bench --run bench/leaf.bench.ts`.
 */
import { bench, describe } from 'vitest';
import { generateCa } from '../src/tls/ca-generate.js';
import { validateCaPair } from '../src/tls/ca-validate.js';
import { createLeafCache } from '../src/tls/leaf-cache.js';
import { createLeafKey, mintLeaf } from '../src/tls/mint-leaf.js';

const pems = await generateCa({ hostname: 'bench' });
const check = await validateCaPair(pems.certPem, pems.keyPem);
if (!check.ok) throw new Error(check.why);
const ca = check.ca;
const leafKey = await createLeafKey();

let n = 0;
const cache = createLeafCache({ ca, size: 1_000_000 });
// Warm the cache's own leaf key and the CA's issuer memo so every iteration below is a true cold mint.
await cache.get('warm.bench.test', 'name');
await mintLeaf(ca, leafKey, 'warm.bench.test', 'name');

const hitCache = createLeafCache({ ca, size: 16 });
await hitCache.get('hit.bench.test', 'name');

describe('leaf', () => {
  bench('cold mint: mintLeaf (certificate only)', async () => {
    n += 1;
    await mintLeaf(ca, leafKey, `h${n}.bench.test`, 'name');
  });

  bench('cold mint: cache miss (certificate + SecureContext)', async () => {
    n += 1;
    await cache.get(`c${n}.bench.test`, 'name');
  });

  bench('cache hit (synchronous)', () => {
    const ctx = hitCache.get('hit.bench.test', 'name');
    if (ctx instanceof Promise) throw new Error('expected a hit');
  });
});
