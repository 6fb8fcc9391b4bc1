// Start-up to `listening` (SPEC §1, §8): spawn() of `bin/clef-proxy serve` to its `listening` log line, as a
// supervisor reading stderr sees it. Includes node's own start, config, CA load, the agent's ready check and
// first services fetch, and the bind. Each run is stopped (SIGTERM drain) before the next starts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startProxyChild, stopChild } from './procs.mjs';
import { median } from './stats.mjs';

/**
 * Time one first start (which also generates the CA when `caDir` holds none yet) and then `runs` warm starts
 * with the CA on disk; the target is on the warm median.
 * @param {{ configPath: string, caDir: string, runs: number, workloadToken: string, agentToken: string }} o
 */
export async function runStartup(o) {
  const once = async () => {
    const proxy = await startProxyChild(o);
    const code = await stopChild(proxy.child);
    if (code !== 0) throw new Error(`proxy exited ${code} after SIGTERM`);
    return proxy.readyMs;
  };
  const generated = !existsSync(join(o.caDir, 'ca.crt'));
  const first = await once();
  const warm = [];
  for (let i = 0; i < o.runs; i++) warm.push(await once());
  return {
    first_start_ms: first,
    first_start_generated_ca: generated,
    warm_ms: warm,
    listening_ms_p50: median(warm),
  };
}
