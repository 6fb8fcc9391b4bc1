// Which upstream the benchmark runs: nginx when installed (cleaner numbers: it spends less CPU per request on
// this 2-core machine), else the Node HTTPS server in upstream-server.mjs. `--upstream node|nginx` forces one.
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { findNginx, parseStubStatus, startNginx } from './nginx.mjs';
import { startUpstreamChild } from './procs.mjs';

/**
 * Start an upstream of `kind` ('auto' picks nginx when present). Returns its port, the pid that does the work
 * (for CPU and RSS), the child to stop, and how to read its accepted-connection counter from a `/_stats` body.
 * @param {{ kind: 'auto' | 'node' | 'nginx', expectAuth: string, dir: string }} o
 */
export async function startUpstream(o) {
  const nginx = o.kind === 'node' ? undefined : findNginx();
  if (o.kind === 'nginx' && !nginx) throw new Error('--upstream nginx: nginx is not installed');
  if (nginx) {
    const dir = await mkdtemp(join(o.dir, 'nginx-'));
    const h = await startNginx({ bin: nginx, dir, expectAuth: o.expectAuth });
    return { ...h, connectionsFrom: parseStubStatus };
  }
  const h = await startUpstreamChild(o.expectAuth);
  return {
    kind: 'node',
    child: h.child,
    pid: h.pid,
    port: h.port,
    connectionsFrom: (t) => JSON.parse(t).connections,
  };
}
