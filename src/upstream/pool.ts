/**
 * The upstream keep-alive pool (SPEC §6 Upstream, §7): one `http.Agent` per route — (scheme, host, port) and
 * either "direct" or the chain proxy's identity — whose `createConnection` dials a verified TLS socket (directly,
 * or inside a CONNECT tunnel) or a plain TCP one for `http://`. Every client connection to the same target shares
 * the agent, so a second request reuses a warm upstream socket instead of paying another handshake.
 *
 * The sockets handed to the agent are already TLS, so callers use `http.request({ agent, … })`, not
 * `https.request`. A failed dial reaches the request's `'error'` as the {@link ProxyError} from the dialer.
 */
import { Agent, type AgentOptions, type ClientRequestArgs } from 'node:http';
import type { LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Pool as UndiciPool } from 'undici';
import type { HostPort } from '../net/host-port.js';
import { connectViaProxy } from './connect-via-proxy.js';
import type { DestinationGuard } from './destination-guard.js';
import {
  createSessionCache,
  createUpstreamTrust,
  dialTls,
  type TlsSessionCache,
  type UpstreamTrust,
} from './dial.js';
import { createRouteDispatcher } from './h1-dispatcher.js';
import type { ParsedProxyUrl } from './proxy-url.js';
import { dialRaw, type RawConnection } from './tunnel-dial.js';

/** `https`: TLS to the upstream (interception, via HTTPS_PROXY); `http`: plaintext forwarding (via HTTP_PROXY). */
export type UpstreamScheme = 'https' | 'http';

/** Chaining settings (SPEC §7), parsed once at the edge. */
export interface UpstreamProxyRouting {
  readonly https?: ParsedProxyUrl;
  readonly http?: ParsedProxyUrl;
  /** NO_PROXY: true ⇒ go direct. */
  readonly bypass: (host: string, port: number) => boolean;
}

export interface UpstreamPoolOptions {
  /** PEM roots added to the defaults (`upstream_ca_file`). */
  readonly extraCa: readonly string[];
  readonly connectTimeoutMs: number;
  /** Idle keep-alive sockets are closed after this long (default 30 s). */
  readonly keepAliveIdleMs?: number;
  readonly proxy: UpstreamProxyRouting | undefined;
  /** DNS override for the upstream proxy hop (tests); direct dials resolve through `guard`. */
  readonly lookup?: LookupFunction;
  /** The destination guard every direct dial goes through (its own lookup is the one that counts). */
  readonly guard: DestinationGuard;
  /** Cap on concurrent sockets per route (default: unlimited, as Node's Agent). */
  readonly maxSocketsPerRoute?: number;
}

/** The route a target takes: `key` names its agent; `viaUpstreamProxy` goes into the audit event. */
export interface UpstreamRoute {
  readonly key: string;
  readonly viaUpstreamProxy: boolean;
}

export interface UpstreamPool {
  route(target: HostPort, scheme: UpstreamScheme): UpstreamRoute;
  /** The keep-alive agent for the target's route; use with `http.request({ agent, host, port, setHost: false })`. */
  agentFor(target: HostPort, scheme: UpstreamScheme): { agent: Agent; viaUpstreamProxy: boolean };
  /**
   * The route's HTTP/1.1 dispatcher for plain request/response exchanges (forward.ts): an undici pool over the
   * same dialers, with one persistent parser per socket instead of a ClientRequest per request.
   */
  dispatcherFor(
    target: HostPort,
    scheme: UpstreamScheme,
  ): { dispatcher: UndiciPool; viaUpstreamProxy: boolean };
  /**
   * A fresh verified TLS connection to an `https` target on its route, offering `alpn` (HTTP/2 negotiation,
   * upstream/h2-sessions.ts). The caller owns the socket: it starts an HTTP/2 session or {@link adopt}s it.
   */
  dialTls(
    target: HostPort,
    alpn: readonly string[],
  ): Promise<{ socket: TLSSocket; viaUpstreamProxy: boolean }>;
  /** Hand an HTTP/1.1 socket from {@link dialTls} to the target's agent: its next new connection is this one. */
  adopt(target: HostPort, socket: TLSSocket): void;
  /** A one-off raw connection (passthrough tunnels use scheme `https`, the default). */
  dialRaw(target: HostPort, scheme?: UpstreamScheme): Promise<RawConnection>;
  /** The destination guard: any other direct dialler (HTTP/2, WebSocket) passes it to `dialTls`/`dialTcp`. */
  readonly guard: DestinationGuard;
  /** Destroy every agent and the sockets it holds. */
  close(): void;
  /** Upstream sockets now: carrying a request (`active`) or kept alive for reuse (`idle`). Read at scrape time. */
  sockets(): { readonly active: number; readonly idle: number };
}

function countSockets(table: NodeJS.ReadOnlyDict<unknown[]>): number {
  let n = 0;
  for (const list of Object.values(table)) n += list?.length ?? 0;
  return n;
}

export const DEFAULT_KEEP_ALIVE_IDLE_MS = 30_000;

type Connect = () => Promise<Duplex>;

/** An Agent whose sockets come from our dialers (callback form of `createConnection`, as agent-base does). */
class RouteAgent extends Agent {
  readonly #connect: Connect;
  constructor(connect: Connect, options: AgentOptions) {
    super(options);
    this.#connect = connect;
  }
  override createConnection(
    _options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    // The agent's `options.host/port` are the caller's; the route's target is fixed by construction.
    this.#connect().then(
      (socket) => callback?.(null, socket),
      // Node's Agent hands `err` to `req.onSocket(undefined, err)`, which emits it as the request's 'error'.
      (err: Error) => callback?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

interface RouteEntry {
  readonly route: UpstreamRoute;
  readonly proxy: ParsedProxyUrl | undefined;
  agent: RouteAgent | undefined;
  dispatcher: UndiciPool | undefined;
  /** Connected sockets handed over by {@link UpstreamPool.adopt}, used before dialling a new one. */
  readonly spare: TLSSocket[];
}

/** A still-open adopted socket, if any. */
function takeSpare(entry: RouteEntry): TLSSocket | undefined {
  let socket = entry.spare.pop();
  while (socket?.destroyed) socket = entry.spare.pop();
  return socket;
}

/** Build the pool. The trust store and TLS session cache are made once here and shared by every route. */
export function createUpstreamPool(opts: UpstreamPoolOptions): UpstreamPool {
  const trust: UpstreamTrust = createUpstreamTrust(opts.extraCa);
  const sessions: TlsSessionCache = createSessionCache();
  const lookup = opts.lookup ? { lookup: opts.lookup } : {};
  const agentOptions: AgentOptions = {
    keepAlive: true,
    // LIFO keeps the warmest socket in use and lets the idle tail time out (fewer stale-socket resets).
    scheduling: 'lifo',
    timeout: opts.keepAliveIdleMs ?? DEFAULT_KEEP_ALIVE_IDLE_MS,
    ...(opts.maxSocketsPerRoute === undefined ? {} : { maxSockets: opts.maxSocketsPerRoute }),
  };
  // Bounded by configuration: only service and passthrough hosts are ever dialled.
  const entries = new Map<string, RouteEntry>();

  const entryFor = (target: HostPort, scheme: UpstreamScheme): RouteEntry => {
    const id = `${scheme}://${target.key}`;
    let entry = entries.get(id);
    if (entry === undefined) {
      const candidate = opts.proxy?.[scheme];
      const proxy = candidate && !opts.proxy?.bypass(target.host, target.port) ? candidate : undefined;
      const key = proxy === undefined ? `${id} direct` : `${id} via ${proxy.redacted}`;
      entry = {
        route: Object.freeze({ key, viaUpstreamProxy: proxy !== undefined }),
        proxy,
        agent: undefined,
        dispatcher: undefined,
        spare: [],
      };
      entries.set(id, entry);
    }
    return entry;
  };

  const connectTls = async (
    target: HostPort,
    proxy: ParsedProxyUrl | undefined,
    alpn?: readonly string[],
  ): Promise<TLSSocket> => {
    const base = { trust, sessions, connectTimeoutMs: opts.connectTimeoutMs, ...(alpn ? { alpn } : {}) };
    if (proxy === undefined) return dialTls(target, { ...base, guard: opts.guard });
    const started = performance.now();
    const tunnel = await connectViaProxy(proxy, target, {
      trust,
      connectTimeoutMs: opts.connectTimeoutMs,
      ...lookup,
    });
    // One connect budget for the whole chain: what the proxy hop used is gone for the handshake.
    const left = Math.max(1, opts.connectTimeoutMs - (performance.now() - started));
    return dialTls(target, { ...base, connectTimeoutMs: left, socket: tunnel });
  };

  const rawDial = (target: HostPort, proxy: ParsedProxyUrl | undefined) =>
    dialRaw(target, proxy, { trust, guard: opts.guard, connectTimeoutMs: opts.connectTimeoutMs, ...lookup });

  return {
    guard: opts.guard,
    route: (target, scheme) => entryFor(target, scheme).route,
    agentFor(target, scheme) {
      const entry = entryFor(target, scheme);
      if (entry.agent === undefined) {
        const connect: Connect =
          scheme === 'https'
            ? async () => takeSpare(entry) ?? connectTls(target, entry.proxy)
            : async () => (await rawDial(target, entry.proxy)).socket;
        entry.agent = new RouteAgent(connect, agentOptions);
      }
      return { agent: entry.agent, viaUpstreamProxy: entry.route.viaUpstreamProxy };
    },
    dispatcherFor(target, scheme) {
      const entry = entryFor(target, scheme);
      if (entry.dispatcher === undefined) {
        const connect: Connect =
          scheme === 'https'
            ? async () => takeSpare(entry) ?? connectTls(target, entry.proxy)
            : async () => (await rawDial(target, entry.proxy)).socket;
        const host = target.kind === 'ipv6' ? `[${target.host}]` : target.host;
        entry.dispatcher = createRouteDispatcher(`${scheme}://${host}:${target.port}`, {
          connect,
          keepAliveIdleMs: opts.keepAliveIdleMs ?? DEFAULT_KEEP_ALIVE_IDLE_MS,
          ...(opts.maxSocketsPerRoute === undefined ? {} : { maxSockets: opts.maxSocketsPerRoute }),
        });
      }
      return { dispatcher: entry.dispatcher, viaUpstreamProxy: entry.route.viaUpstreamProxy };
    },
    async dialTls(target, alpn) {
      const entry = entryFor(target, 'https');
      const socket = await connectTls(target, entry.proxy, alpn);
      return { socket, viaUpstreamProxy: entry.route.viaUpstreamProxy };
    },
    adopt(target, socket) {
      const spare = entryFor(target, 'https').spare;
      spare.push(socket);
      socket.once('close', () => spare.splice(spare.indexOf(socket) >>> 0, 1));
    },
    dialRaw: (target, scheme = 'https') => rawDial(target, entryFor(target, scheme).proxy),
    close() {
      for (const entry of entries.values()) {
        entry.agent?.destroy();
        void entry.dispatcher?.destroy().catch(() => {});
        for (const socket of entry.spare.splice(0)) socket.destroy();
      }
      entries.clear();
    },
    sockets() {
      let active = 0;
      let idle = 0;
      for (const entry of entries.values()) {
        if (entry.dispatcher !== undefined) {
          const st = entry.dispatcher.stats;
          active += st.connected - st.free;
          idle += st.free;
        }
        if (entry.agent === undefined) continue;
        active += countSockets(entry.agent.sockets);
        idle += countSockets(entry.agent.freeSockets);
      }
      return { active, idle };
    },
  };
}
