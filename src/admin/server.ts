/**
 * The admin listener (issue 14): `GET /healthz`, `GET /readyz` and `GET /metrics` on a loopback address, for the
 * supervisor, the orchestrator's probes and a Prometheus scrape. A separate plain-HTTP server: it never sees
 * workload traffic, carries no credential and answers nothing else.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ListenAddress } from '../config/types.js';
import type { Readiness } from './readiness.js';

/** What the admin endpoints read; each is called per request, never cached. */
export interface AdminProbes {
  /** True once the proxy has started draining (SIGTERM / `drain()`). */
  draining(): boolean;
  /** Asynchronous with `workers` > 1: the primary asks each worker over IPC. */
  ready(): Readiness | Promise<Readiness>;
  /** The Prometheus exposition, or undefined when metrics are off. */
  metrics?(): Promise<{ readonly contentType: string; readonly body: string }>;
}

/** The admin listener failed to bind (the CLI maps it to exit 6, like the main listener). */
export class AdminListenError extends Error {
  constructor(cause: unknown) {
    super(`admin listen failed: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
    this.name = 'AdminListenError';
  }
}

/** A bound admin listener. */
export interface AdminServer {
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

interface Reply {
  readonly status: number;
  readonly type: string;
  readonly body: string;
}

const json = (status: number, value: unknown): Reply => ({
  status,
  type: 'application/json',
  body: `${JSON.stringify(value)}\n`,
});

async function route(probes: AdminProbes, req: IncomingMessage): Promise<Reply> {
  // The path alone decides; a query string (`/metrics?x`) is ignored, never echoed.
  const path = (req.url ?? '/').split('?', 1)[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method_not_allowed' });
  if (path === '/healthz') {
    return probes.draining() ? json(503, { status: 'draining' }) : json(200, { status: 'serving' });
  }
  if (path === '/readyz') {
    const r = await probes.ready();
    if (r.ready) return json(200, { status: 'ready' });
    const workers = r.workers === undefined ? {} : { workers: r.workers };
    return json(503, { status: 'not_ready', reason: r.reason, detail: r.detail, ...workers });
  }
  if (path === '/metrics' && probes.metrics) {
    const m = await probes.metrics();
    return { status: 200, type: m.contentType, body: m.body };
  }
  return json(404, { error: 'not_found' });
}

function answer(probes: AdminProbes, req: IncomingMessage, res: ServerResponse): void {
  route(probes, req)
    .catch(() => json(500, { error: 'internal_error' }))
    .then((r) => {
      const headers: Record<string, string | number> = {
        'content-type': r.type,
        'content-length': Buffer.byteLength(r.body),
        'cache-control': 'no-store',
      };
      if (r.status === 405) headers.allow = 'GET, HEAD';
      res.writeHead(r.status, headers);
      res.end(r.body);
    });
}

/** Bind the admin listener; rejects with the bind error (the CLI maps it to exit 6). */
export function startAdminServer(at: ListenAddress, probes: AdminProbes): Promise<AdminServer> {
  const server: Server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) =>
    answer(probes, req, res),
  );
  // A probe connection must never keep a draining process alive.
  server.keepAliveTimeout = 5_000;
  return new Promise<AdminServer>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: at.host, port: at.port, exclusive: true }, () => {
      server.off('error', reject);
      server.on('error', () => {});
      const addr = server.address();
      if (addr === null || typeof addr === 'string')
        return reject(new Error('admin listener has no address'));
      resolve({
        address: addr.address,
        port: addr.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
