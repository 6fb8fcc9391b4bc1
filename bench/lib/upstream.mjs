// Which upstream the benchmark runs: nginx when installed (cleaner numbers: it spends less CPU per request on
// this 2-core machine), else the Node HTTPS server in upstream-server.mjs. `--upstream node|nginx` forces one.
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { canBind, findNginx, parseStubStatus, startNginx } from './nginx.mjs';
import { startUpstreamChild } from './procs.mjs';

/**
 * Start an upstream of `kind` ('auto' picks nginx when present). Returns its port, the pid that does the work
 * (for CPU and RSS), the child to stop, and how to read its accepted-connection counter from a `/_stats` body.
 * `nativePort`: also serve on 127.0.0.1:443 for hey (nginx only; `nativeSkipped` says why not when it cannot).
 * @param {{ kind: 'auto' | 'node' | 'nginx', expectAuth: string, dir: string, nativePort?: boolean }} o
 */
export async function startUpstream(o) {
  const nginx = o.kind === 'node' ? undefined : findNginx();
  if (o.kind === 'nginx' && !nginx) throw new Error('--upstream nginx: nginx is not installed');
  if (nginx) {
    const dir = await mkdtemp(join(o.dir, 'nginx-'));
    // hey sends the URL's `host:port` as its TLS server name when a port is given (it sets ServerName to the
    // request's Host), which the proxy refuses as an invalid host_name (RFC 6066 §3). On port 443 the URL has no
    // port, so hey's SNI is the plain name: the same nginx server listens on 443 too when it can.
    const nativePort = o.nativePort && (await canBind(443)) ? 443 : undefined;
    const h = await startNginx({ bin: nginx, dir, expectAuth: o.expectAuth, extraPort: nativePort });
    return {
      ...h,
      connectionsFrom: parseStubStatus,
      nativePort,
      ...(o.nativePort && !nativePort
        ? { nativeSkipped: '127.0.0.1:443 cannot be bound (hey needs it)' }
        : {}),
    };
  }
  const h = await startUpstreamChild(o.expectAuth);
  return {
    ...(o.nativePort
      ? { nativeSkipped: 'hey runs only against the nginx upstream (it needs port 443)' }
      : {}),
    kind: 'node',
    child: h.child,
    pid: h.pid,
    port: h.port,
    connectionsFrom: (t) => JSON.parse(t).connections,
  };
}
