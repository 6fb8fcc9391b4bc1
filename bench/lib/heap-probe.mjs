// Development probe, preloaded into the proxy by `HEAP=1 node bench/rss-after.mjs` (node --import): on SIGUSR2 it
// appends the process's memory and V8's heap spaces to <tmpdir>/clef-heap-<pid>.txt, so the harness can tell V8's
// young generation, old generation and large objects (the bundle's source text) from memory outside the heap.
import { appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';

const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

/** Where the probe of process `pid` writes. */
export const probeFile = (pid) => join(tmpdir(), `clef-heap-${pid}.txt`);

process.on('SIGUSR2', () => {
  const m = process.memoryUsage();
  const lines = [`  V8 heap ${mib(m.heapTotal)} (used ${mib(m.heapUsed)}), external ${mib(m.external)}`];
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.physical_space_size === 0) continue;
    lines.push(`    ${s.space_name}: resident ${mib(s.physical_space_size)}, used ${mib(s.space_used_size)}`);
  }
  appendFileSync(probeFile(process.pid), `${lines.join('\n')}\n`);
});
