/**
 * `startProxy()` (SPEC §11): wires the listener, CA, credential source, upstream pool and audit sink into one
 * running proxy. Everything is an argument — nothing global — so several proxies can share a process, and the CLI's
 * `serve` is a thin shell over this.
 */
import type { LookupFunction } from 'node:net';
import { type Readiness, readiness } from './admin/readiness.js';
import { AdminListenError, type AdminServer, startAdminServer } from './admin/server.js';
import type { CredentialSource } from './agent/source.js';
import type { AuditEvent } from './audit/events.js';
import { type AuditSink, fromFunction, nullSink } from './audit/sink.js';
import { createTurnBarrier, type TurnBarrier } from './audit/turn-barrier.js';
import type { Limits, ListenAddress } from './config/types.js';
import { handleConnection } from './connect/front-door.js';
import { listen } from './connect/listener.js';
import type { ProxyContext } from './context.js';
import { createConnTracker } from './lifecycle/conn-tracker.js';
import { DEFAULT_QUIET_MS, startIdleTrim } from './lifecycle/idle-trim.js';
import { type Logger, silentLogger } from './log/logger.js';
import { packageVersion } from './metrics/build-info.js';
import { readGauges } from './metrics/gauges.js';
import { observingSink } from './metrics/observe-sink.js';
import type { ProxyGauges } from './metrics/registry.js';
import { createTally } from './metrics/tally.js';
import { createEgressPolicy } from './net/egress-policy.js';
import { isLoopbackHost } from './net/loopback.js';
import { prepareToken } from './pipeline/authenticate.js';
import {
  buildPool,
  buildUpstreams,
  type Generation,
  generation,
  parsePassthrough,
  type ReloadableSettings,
  resolveLimits,
  type UpstreamProxyOption,
} from './proxy-parts.js';
import { type CaMaterial, loadCa, loadOrCreateCa } from './tls/ca-store.js';
import { validateCaPair } from './tls/ca-validate.js';
import { createLeafCache } from './tls/leaf-cache.js';
import { createDestinationGuard } from './upstream/destination-guard.js';

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
  readonly upstreamProxy?: UpstreamProxyOption;
  /** Extra PEM roots added to the defaults for upstream verification (never a way to turn verification off). */
  readonly upstreamCa?: string | readonly string[];
  /** An audit sink, or a function receiving each event. Default: events are dropped. */
  readonly audit?: AuditSink | ((event: AuditEvent) => void);
  /**
   * Write each forwarded request's audit event before the last bytes of its response leave, instead of once the
   * response has been flushed: a process killed the moment its client has a whole response has already handed the
   * event to its sink. Each response's final writes wait for the end of the event-loop turn; a {@link TurnBarrier}
   * shared with the sink lets it hand on the turn's events together first (the `workers` IPC sink). On with
   * `worker`; off by default, as it adds that wait to each response (docs/audit.md).
   */
  readonly auditBeforeLastByte?: boolean | TurnBarrier;
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
  /**
   * A node:cluster worker (config `workers`): listen non-exclusively to share the primary's socket, and prefix
   * connection ids (`w2c7`) so audit lines from several workers stay distinct (docs/audit.md).
   */
  readonly worker?: { readonly connIdPrefix: string };
  /**
   * Give memory back after a quiet spell: once two checks `quietMs` apart (default 6 s) find no connection accepted and
   * no request or tunnel started, a full garbage collection has run after each (10–40 ms each, once per quiet spell;
   * `lifecycle/idle-trim.ts`). The daemon turns it on. Off by default here, because the collections pause the whole
   * process, and an embedding process has its own work in it. A `quietMs` that is not a whole number from 1 to
   * 2^31-1 throws a TypeError.
   */
  readonly trimWhenIdle?: boolean | { readonly quietMs: number };
}

export { AdminListenError } from './admin/server.js';
export type { ReloadableSettings } from './proxy-parts.js';

export interface RunningProxy {
  readonly address: string;
  readonly port: number;
  /** `http://address:port` — what a workload puts in `HTTPS_PROXY`. */
  readonly url: string;
  /** The CA certificate workloads must trust (PEM). */
  readonly caCertPem: string;
  /** Swap in a new CA (SIGHUP) and flush the leaf cache; loads from the directory when none is given. */
  reloadCa(ca?: CaMaterial): Promise<void>;
  /**
   * Apply new passthrough hosts, limits or chaining (SIGHUP) to connections accepted from now on; open connections
   * keep what they started with. Throws TypeError for a bad passthrough entry or proxy URL (nothing changes then).
   */
  reconfigure(settings: ReloadableSettings): void;
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
  /** The scrape-time figures `/metrics` reports (a cluster worker sends them to the primary's admin). */
  gauges(): ProxyGauges;
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

/** `trimWhenIdle` as the quiet interval in ms (undefined: off). Throws TypeError before anything listens. */
function resolveTrim(option: StartProxyOptions['trimWhenIdle']): number | undefined {
  if (!option) return undefined;
  if (option === true) return DEFAULT_QUIET_MS;
  const q = option.quietMs;
  // setInterval runs anything outside 1 ms .. 2^31-1 ms every millisecond: two collections per check would then
  // take the whole process.
  if (!Number.isInteger(q) || q < 1 || q > 2_147_483_647) {
    throw new TypeError(`trimWhenIdle.quietMs must be a whole number of ms from 1 to 2147483647, got ${q}`);
  }
  return q;
}

function turnBarrier(option: boolean | TurnBarrier): TurnBarrier | undefined {
  if (option === false) return undefined;
  return option === true ? createTurnBarrier() : option;
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
  const limits = resolveLimits(options.limits);
  const trimQuietMs = resolveTrim(options.trimWhenIdle);
  const caDir = 'dir' in options.ca ? options.ca.dir : undefined;
  let ca = await resolveCa(options.ca);
  const passthrough = parsePassthrough(options.passthroughHosts ?? []);
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
  const { pool, key: poolKey } = buildPool(limits, options.upstreamProxy, extraCa, guard, options.lookup);
  const leafCache = createLeafCache({ ca, size: limits.leafCacheSize });
  let connSeq = 0;
  const sink = toSink(options.audit);
  // Metrics only with an admin listener: without one, the hot path does not even count.
  const tally = options.admin ? createTally() : undefined;
  const first: ProxyContext = {
    limits,
    source: options.source,
    audit: tally ? observingSink(sink, tally) : sink,
    auditBarrier: turnBarrier(options.auditBeforeLastByte ?? options.worker !== undefined),
    logger,
    pool,
    upstreams: buildUpstreams(limits, pool),
    leafCache,
    passthrough,
    workloadToken: options.workloadToken === null ? null : prepareToken(options.workloadToken),
    tracker: createConnTracker(),
    nextConnId: () => `${options.worker?.connIdPrefix ?? ''}c${++connSeq}`,
  };
  // Every generation ever built: the old ones still serve the connections accepted under them.
  const generations: Generation[] = [generation(first, poolKey, options.upstreamProxy)];
  let current = generations[0]!;
  const ctx = first; // the parts every generation shares: tracker, source, audit, logger, leaf cache
  const listener = await listen(
    () => current.ctx,
    parseListen(options.listen),
    (socket) => {
      void handleConnection(current, socket);
    },
    options.worker !== undefined,
  );
  const ready = () => readiness(ctx.source, ctx.tracker.draining);
  let admin: AdminServer | undefined;
  if (options.admin) {
    const at = parseListen(options.admin.listen);
    if (!isLoopbackHost(at.host)) {
      listener.server.close();
      throw new TypeError(`admin.listen must be a loopback address, got "${at.host}"`);
    }
    try {
      // Loaded only here: the metrics registry (prom-client) costs memory from the start (docs/performance.md).
      const { createMetrics } = await import('./metrics/registry.js');
      const metrics = createMetrics({
        tally: tally!,
        version: packageVersion(),
        gauges: () => readGauges(current.ctx, sink, tally!),
      });
      admin = await startAdminServer(at, {
        draining: () => ctx.tracker.draining,
        ready,
        metrics: () => metrics.render(),
      });
    } catch (err) {
      listener.server.close();
      throw new AdminListenError(err);
    }
  }

  const trim =
    trimQuietMs === undefined
      ? undefined
      : startIdleTrim({
          activity: () => ctx.tracker.started,
          quietMs: trimQuietMs,
          onTrim: ({ ms }) => logger.debug({ ms: Math.round(ms) }, 'quiet spell: memory trimmed'),
        });

  let closed: Promise<void> | undefined;
  const shutdown = (timeoutMs: number): Promise<void> => {
    closed ??= (async () => {
      trim?.stop();
      listener.server.close();
      await ctx.tracker.drain(timeoutMs);
      for (const g of generations) {
        g.inner.close();
        g.h2.close();
        g.forward.close();
        g.ctx.upstreams.close();
        g.ctx.pool.close();
      }
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
    reconfigure(next) {
      const old = current;
      const nextLimits = next.limits === undefined ? old.ctx.limits : resolveLimits(next.limits);
      const nextPassthrough =
        next.passthroughHosts === undefined ? old.ctx.passthrough : parsePassthrough(next.passthroughHosts);
      const up = next.upstreamProxy ?? old.upstreamProxy;
      const built = buildPool(nextLimits, up, extraCa, guard, options.lookup);
      let nextPool = built.pool;
      if (built.key === old.poolKey) {
        built.pool.close();
        nextPool = old.ctx.pool; // same settings: keep the warm sockets
      }
      const nextCtx: ProxyContext = {
        ...old.ctx,
        limits: nextLimits,
        passthrough: nextPassthrough,
        pool: nextPool,
        upstreams: nextPool === old.ctx.pool ? old.ctx.upstreams : buildUpstreams(nextLimits, nextPool),
      };
      current = generation(nextCtx, built.key, up);
      generations.push(current);
    },
    adminPort: admin?.port,
    readiness: ready,
    gauges: () => readGauges(current.ctx, sink, tally),
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
