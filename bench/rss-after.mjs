// Development harness: how the proxy's RSS settles once load stops. `node bench/rss-after.mjs [entry]` starts
// one nginx upstream, agent and proxy (default bin/clef-proxy), drives keep-alive c=32 GETs (or SCEN=download,
// c=4 1 MiB GETs) for SECS (10) seconds, then prints VmRSS every 5 s for SETTLE (60) seconds. HEAP=1 also prints
// V8's heap spaces, fresh, after the load and at the end (bench/lib/heap-probe.mjs, preloaded into the proxy).
import { readFileSync, rmSync } from 'node:fs';
import { proxyConnector } from './lib/connectors.mjs';
import { probeFile } from './lib/heap-probe.mjs';
import { runLoad } from './lib/load.mjs';
import { rssMiB } from './lib/proc-stats.mjs';
import { startProxyChild, stopChild } from './lib/procs.mjs';
import { setUp } from './lib/setup.mjs';

const entry = process.argv[2] ?? 'bin/clef-proxy';
const secs = Number(process.env.SECS ?? 10);
const settle = Number(process.env.SETTLE ?? 60);
const download = process.env.SCEN === 'download';
const heap = process.env.HEAP === '1';
const env = await setUp('nginx', 'file', false);
const p = await startProxyChild({
  entry,
  nodeArgs: heap ? ['--import', new URL('./lib/heap-probe.mjs', import.meta.url).href] : [],
  configPath: env.configPath,
  workloadToken: env.workloadToken,
  agentToken: env.agentToken,
});
try {
  const split = () => {
    const status = readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024;
    return `RSS ${kb('VmRSS').toFixed(1)} MiB = anonymous ${kb('RssAnon').toFixed(1)} + file-backed ${kb('RssFile').toFixed(1)}`;
  };
  /** The heap probe's report, when HEAP=1. */
  const heapSplit = async () => {
    if (!heap) return;
    rmSync(probeFile(p.child.pid), { force: true });
    process.kill(p.child.pid, 'SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.stdout.write(readFileSync(probeFile(p.child.pid), 'utf8'));
  };
  console.log(`fresh: ${split()}`);
  await heapSplit();
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(p.child.pid));
  }, 200);
  const r = await runLoad({
    connector: proxyConnector({ proxyPort: p.port, authorization: env.authorization, ca: env.proxyCa() }),
    origin: env.origin,
    concurrency: download ? 4 : 32,
    durationMs: secs * 1000,
    warmupMs: 500,
    method: 'GET',
    path: `${download ? '/download' : '/small'}?expect=yes`,
    pids: { proxy: p.child.pid },
  });
  clearInterval(sampler);
  console.log(`load: ${Math.round(r.rps)} req/s, ${r.errors} errors, peak RSS ${peak.toFixed(1)} MiB`);
  await heapSplit();
  if (process.env.DUMP === '1') {
    // The largest mappings by resident size (smaps), to tell V8's heap from malloc's arenas.
    const maps = [];
    let cur;
    for (const line of readFileSync(`/proc/${p.child.pid}/smaps`, 'utf8').split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) {
        cur = { name: line.split(/\s+/).slice(5).join(' ') || '[anon]', range: line.split(' ')[0], rss: 0 };
        maps.push(cur);
      } else if (line.startsWith('Rss:') && cur) cur.rss = Number(line.split(/\s+/)[1]) / 1024;
    }
    maps.sort((a, b) => b.rss - a.rss);
    for (const m of maps.slice(0, 6)) console.log(`  ${m.rss.toFixed(1)} MiB ${m.name} ${m.range}`);
    const status = readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
    for (const k of ['VmRSS', 'RssAnon', 'RssFile', 'RssShmem'])
      console.log(`  ${new RegExp(`${k}:.*`).exec(status)?.[0]}`);
  }
  for (let t = 0; t <= settle; t += 5) {
    console.log(`+${t} s: ${split()}`);
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  await heapSplit();
} finally {
  rmSync(probeFile(p.child.pid), { force: true });
  await stopChild(p.child);
  await env.tearDown();
}
