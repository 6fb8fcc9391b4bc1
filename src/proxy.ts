/**
 * `startProxy()` (SPEC §11): wires the listener, CA, credential source, upstream pool and audit sink into one
 * running proxy. Everything is an argument — nothing global — so several proxies can share a process, and the CLI's
 * `serve` is a thin shell over this.
 */
import type { LookupFunction } from 'node:net';
import { type Readiness, readiness } from './admin/readiness.js';
import { type AdminServer, startAdminServer } from './admin/server.js';
import type { CredentialSource } from './agent/source.js';
import type { AuditEvent } from './audit/events.js';
import { type AuditSink, fromFunction, nullSink } from './audit/sink.js';
import type { Limits, ListenAddress } from './config/types.js';
import { DEFAULT_LIMITS } from './config/types.js';
import { handleConnection } from './connect/front-door.js';
import { listen } from './connect/listener.js';
import type { ProxyContext } from './context.js';
import { createForwardServer } from './http/forward-plain.js';
import { createInnerServer } from './http/inner-server.js';
import { createConnTracker } from './lifecycle/conn-tracker.js';
import { type Logger, silentLogger } from './log/logger.js';
import { createEgressPolicy } from './net/egress-policy.js';
import { type HostEntry, parseHostEntry } from './net/host-pattern.js';
import { buildHostSet } from './net/host-set.js';
import { isLoopbackHost } from './net/loopback.js';
import { parseNoProxy } from './net/no-proxy.js';
import { prepareToken } from './pipeline/authenticate.js';
import { createInterceptHandler } from './pipeline/run.js';
import { createUpgradeHandler } from './pipeline/upgrade.js';
import { type CaMaterial, loadCa, loadOrCreateCa } from './tls/ca-store.js';
import { validateCaPair } from './tls/ca-validate.js';
import { createLeafCache } from './tls/leaf-cache.js';
import { createDestinationGuard } from './upstream/destination-guard.js';
import { createUpstreamPool } from './upstream/pool.js';
import { parseProxyUrl } from './upstream/proxy-url.js';

export interface StartProxyOptions {
  /** `host:port` or `{host, port}`; default `127.0.0.1:0` (an OS-chosen port). */
  readonly listen?: string | ListenAddress;
  /**
   * The CA to mint leaves from: loaded material, a PEM pair (`certPem` + PKCS#8 `keyPem`, validated), or a directory
   * (created on first use, SPEC §4).
   */
  readonly ca: CaMaterial | { readonly certPem: string; readonly keyPem: string } | { readonly dir: string };
  /** Services and secrets: the agent client or `createStaticSource()`. */
  readonly source: CredentialSource;
  /** The workload token (`Proxy-Authorization: Basic` password). `null` waives workload auth — only for loopback use. */
  readonly workloadToken: string | null;
  /** Host entries tunnelled blind (SPEC §3 syntax, wildcards `*.example.com[:port]` included). */
  readonly passthroughHosts?: readonly string[];
  /** Chaining (SPEC §7). `url` is used for both schemes unless `https`/`http` are given. */
  readonly upstreamProxy?: {
    readonly url?: string;
    readonly https?: string;
    readonly http?: string;
    readonly noProxy?: string;
  };
  /** Extra PEM roots added to the defaults for upstream verification (never a way to turn verification off). */
  readonly upstreamCa?: string | readonly string[];
  /** An audit sink, or a function receiving each event. Default: events are dropped. */
  readonly audit?: AuditSink | ((event: AuditEvent) => void);
  readonly limits?: Partial<Limits>;
  readonly logger?: Logger;
  /**
   * DNS lookup used for upstream connections (tests point names at 127.0.0.1). The destination guard calls it once
   * per dial, with `{ all: true }`, and the dial goes to the addresses it checked.
   */
  readonly lookup?: LookupFunction;
  /**
   * The destination guard (config `egress`): private ranges a resolved upstream address may be in — CIDRs such as
   * `10.0.0.0/8` or `127.0.0.0/8` (bad entries throw a TypeError). Link-local, metadata, multicast and other
   * forbidden classes are refused whatever is listed; loopback is refused unless listed (docs/configuration.md).
   */
  readonly egress?: { readonly allowPrivate?: readonly string[] };
  /** The admin listener (`/healthz`, `/readyz`, `/metrics`); none when absent. Loopback only. */
  readonly admin?: { readonly listen: string | ListenAddress };
}

/** The admin listener failed to bind (the CLI maps it to exit 6, like the main listener). */
export class AdminListenError extends Error {
  constructor(cause: unknown) {
    super(`admin listen failed: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
    this.name = 'AdminListenError';
  }
}

export interface RunningProxy {
  readonly address: string;
  readonly port: number;
  /** `http://address:port` — what a workload puts in `HTTPS_PROXY`. */
  readonly url: string;
  /** The CA certificate workloads must trust (PEM). */
  readonly caCertPem: string;
  /** Swap in a new CA (SIGHUP) and flush the leaf cache; loads from the directory when none is given. */
  reloadCa(ca?: CaMaterial): Promise<void>;
  /** Stop accepting, let in-flight work finish for up to `timeoutMs`, close the rest, flush the audit sink. */
  drain(timeoutMs: number): Promise<void>;
  /** Close everything now and flush the audit sink. */
  close(): Promise<void>;
  /** Live figures for health checks and tests: open client connections and leaf-cache state. */
  stats(): ProxyStats;
  /** The admin listener's port, when `admin` was given. */
  readonly adminPort: number | undefined;
  /** What `/readyz` answers now. */
  readiness(): Readiness;
}

export interface ProxyStats {
  /** Client connections open now (what `limits.maxConnections` bounds). */
  readonly connections: number;
  /** Leaf certificates cached now (bounded by `limits.leafCacheSize`) and minted since start. */
  readonly leafCache: { readonly size: number; readonly mints: number };
}

function parseListen(listen: StartProxyOptions['listen']): ListenAddress {
  if (listen === undefined) return { host: '127.0.0.1', port: 0 };
  if (typeof listen !== 'string') return listen;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(listen) ?? /^([^:]+):(\d+)$/.exec(listen);
  if (!m) throw new TypeError(`listen must be host:port or [v6]:port, got "${listen}"`);
  return { host: m[1]!, port: Number(m[2]) };
}

function toSink(audit: StartProxyOptions['audit']): AuditSink {
  if (audit === undefined) return nullSink;
  return typeof audit === 'function' ? fromFunction(audit) : audit;
}

async function resolveCa(ca: StartProxyOptions['ca']): Promise<CaMaterial> {
  if ('dir' in ca) return loadOrCreateCa(ca.dir);
  if ('cert' in ca) return ca;
  const check = await validateCaPair(ca.certPem, ca.keyPem);
  if (!check.ok) throw new TypeError(`ca: ${check.why}`);
  return check.ca;
}

/** Start a proxy. Resolves once it is listening. */
export async function startProxy(options: StartProxyOptions): Promise<RunningProxy> {
  const limits: Limits = Object.freeze({ ...DEFAULT_LIMITS, ...options.limits });
  const caDir = 'dir' in options.ca ? options.ca.dir : undefined;
  let ca = await resolveCa(options.ca);
  const passthroughEntries: HostEntry[] = [];
  for (const entry of options.passthroughHosts ?? []) {
    const hp = parseHostEntry(entry);
    if (!hp.ok) throw new TypeError(`passthrough host "${entry}": ${hp.reason}`);
    passthroughEntries.push(hp.value);
  }
  const passthrough = buildHostSet(passthroughEntries);
  const up = options.upstreamProxy;
  const httpsProxy = up?.https ?? up?.url;
  const httpProxy = up?.http ?? up?.url;
  const noProxy = parseNoProxy(up?.noProxy ?? '');
  const extraCa =
    options.upstreamCa === undefined
      ? []
      : typeof options.upstreamCa === 'string'
        ? [options.upstreamCa]
        : [...options.upstreamCa];
  const logger = options.logger ?? silentLogger();
  const guard = createDestinationGuard({
    policy: createEgressPolicy(options.egress?.allowPrivate),
    logger,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  const pool = createUpstreamPool({
    guard,
    extraCa,
    connectTimeoutMs: limits.upstreamConnectTimeoutMs,
    keepAliveIdleMs: Math.min(limits.idleTimeoutMs, 30_000),
    proxy:
      httpsProxy || httpProxy
        ? {
            ...(httpsProxy ? { https: parseProxyUrl(httpsProxy) } : {}),
            ...(httpProxy ? { http: parseProxyUrl(httpProxy) } : {}),
            bypass: (host: string, port: number) => noProxy.matches(host, port),
          }
        : undefined,
    ...(options.lookup ? { lookup: options.lookup } : {}),
  });
  const leafCache = createLeafCache({ ca, size: limits.leafCacheSize });
  let connSeq = 0;
  const ctx: ProxyContext = {
    limits,
    source: options.source,
    audit: toSink(options.audit),
    logger,
    pool,
    leafCache,
    passthrough,
    workloadToken: options.workloadToken === null ? null : prepareToken(options.workloadToken),
    tracker: createConnTracker(),
    nextConnId: () => `c${++connSeq}`,
  };
  const intercepted = createInterceptHandler(ctx);
  const inner = createInnerServer(ctx, intercepted, createUpgradeHandler(ctx, intercepted));
  const forwardServer = createForwardServer(ctx);
  const deps = { ctx, inner, forward: forwardServer };
  const listener = await listen(ctx, parseListen(options.listen), (socket) => {
    void handleConnection(deps, socket);
  });
  const ready = () => readiness(ctx.source, ctx.tracker.draining);
  let admin: AdminServer | undefined;
  if (options.admin) {
    const at = parseListen(options.admin.listen);
    if (!isLoopbackHost(at.host)) {
      listener.server.close();
      throw new TypeError(`admin.listen must be a loopback address, got "${at.host}"`);
    }
    try {
      admin = await startAdminServer(at, { draining: () => ctx.tracker.draining, ready });
    } catch (err) {
      listener.server.close();
      throw new AdminListenError(err);
    }
  }

  let closed: Promise<void> | undefined;
  const shutdown = (timeoutMs: number): Promise<void> => {
    closed ??= (async () => {
      listener.server.close();
      await ctx.tracker.drain(timeoutMs);
      inner.close();
      forwardServer.close();
      pool.close();
      await ctx.audit.flush();
      // Last: the supervisor keeps reading `/healthz` 503 until the drain is over.
      await admin?.close();
    })();
    return closed;
  };
  const host = listener.address.includes(':') ? `[${listener.address}]` : listener.address;
  return {
    address: listener.address,
    port: listener.port,
    url: `http://${host}:${listener.port}`,
    get caCertPem() {
      return ca.certPem;
    },
    async reloadCa(next) {
      if (next === undefined && caDir === undefined) throw new Error('no CA directory to reload from');
      // Reload only: a missing or broken CA on SIGHUP keeps the current one (the caller logs the failure).
      ca = next ?? (await loadCa(caDir!));
      leafCache.setCa(ca);
    },
    drain: shutdown,
    adminPort: admin?.port,
    readiness: ready,
    stats: () => ({
      connections: ctx.tracker.size,
      leafCache: { size: leafCache.size, mints: leafCache.mints },
    }),
    close: () => {
      // Also ends a drain in progress at once (a second signal, SPEC §8).
      ctx.tracker.destroyAll();
      return shutdown(0);
    },
  };
}
