/**
 * Open a verified TLS connection to an upstream (SPEC §6 Upstream): SNI = the host name (none for IP literals),
 * the certificate checked against the default roots plus `upstream_ca_file`, and the socket handed over only
 * after `secureConnect`, so nothing is ever written to an unverified peer.
 */
import { type LookupFunction, connect as netConnect, type Socket } from 'node:net';
import {
  type ConnectionOptions,
  connect,
  createSecureContext,
  rootCertificates,
  type SecureContext,
  type TLSSocket,
} from 'node:tls';
import { LRUCache } from 'lru-cache';
import { ProxyError } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import { type ConnectTo, type DestinationGuard, guardedConnect } from './destination-guard.js';
import { toUpstreamError } from './error-codes.js';

/**
 * The roots upstream certificates are verified against, built once per pool. A prebuilt SecureContext is
 * passed to every `tls.connect`: handing `ca` to each connect would re-parse ~140 PEM roots per new connection.
 */
export interface UpstreamTrust {
  readonly secureContext: SecureContext;
}

/**
 * Build the trust store: Node's bundled roots plus `extraCa` (SPEC §3: `upstream_ca_file` *adds* roots; there is
 * no way to switch verification off). With no extra roots Node's default store is used as is, which also keeps
 * `NODE_EXTRA_CA_CERTS` in effect.
 */
export function createUpstreamTrust(extraCa: readonly string[] = []): UpstreamTrust {
  const secureContext =
    extraCa.length === 0
      ? createSecureContext()
      : createSecureContext({ ca: [...rootCertificates, ...extraCa] });
  return Object.freeze({ secureContext });
}

/** TLS sessions (tickets) by `host:port`, so a repeated connect resumes instead of a full handshake. */
export interface TlsSessionCache {
  get(key: string): Buffer | undefined;
  set(key: string, session: Buffer): void;
  delete(key: string): void;
}

/** A small LRU of sessions, one per pool (undici `core/connect.js` keeps the same per-connector cache). */
export function createSessionCache(max = 256): TlsSessionCache {
  const lru = new LRUCache<string, Buffer>({ max });
  return {
    get: (key) => lru.get(key),
    set: (key, session) => {
      lru.set(key, session);
    },
    delete: (key) => {
      lru.delete(key);
    },
  };
}

/**
 * How a dial reaches its peer: inside an already-open tunnel through a chain proxy (`socket`, SPEC §7), or directly,
 * through the destination `guard` (resolve once, check every address, dial the checked one). `guard: null` is only
 * for the hop to the upstream proxy itself, which is exempt; it is required so that no new direct dial can forget it.
 */
export type DialRoute =
  | { readonly socket: Socket; readonly guard?: undefined }
  | { readonly socket?: undefined; readonly guard: DestinationGuard | null };

export type DialTlsOptions = DialRoute & {
  readonly trust: UpstreamTrust;
  /** Deadline for name lookup, TCP connect and TLS handshake (`limits.upstream_connect_timeout_ms`). */
  readonly connectTimeoutMs: number;
  /** DNS override for an exempt (`guard: null`) dial (tests); a guard has its own. */
  readonly lookup?: LookupFunction;
  /** ALPN offer; HTTP/1.1 only in v1 (HTTP/2 is §12). */
  readonly alpn?: readonly string[];
  readonly sessions?: TlsSessionCache;
};

const UPSTREAM_HWM = 64 * 1024;
const DEFAULT_ALPN: readonly string[] = Object.freeze(['http/1.1']);

function noop(): void {}

/**
 * Connect to `target` over verified TLS. Resolves after `secureConnect` with Nagle off; rejects with a
 * {@link ProxyError}: `destination_not_allowed` when the guard refuses the resolved address (nothing is dialled),
 * `upstream_tls_error` for a certificate that fails verification, `upstream_error` for anything else (refused,
 * reset, alert, timeout). On failure the socket, and a given tunnel socket, are destroyed.
 */
export function dialTls(target: HostPort, opts: DialTlsOptions): Promise<TLSSocket> {
  if (opts.socket !== undefined) return connectTls(target, opts, undefined);
  return guardedConnect(opts.guard, target, opts.connectTimeoutMs, (to, connectTimeoutMs) =>
    connectTls(target, { ...opts, connectTimeoutMs }, to),
  );
}

function connectTls(target: HostPort, opts: DialTlsOptions, to: ConnectTo | undefined): Promise<TLSSocket> {
  return new Promise<TLSSocket>((resolve, reject) => {
    // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName" — no SNI for IP targets.
    // `host` is still passed: Node checks the certificate's IP SANs against it.
    const servername = target.kind === 'name' ? target.host : undefined;
    const session = opts.sessions?.get(target.key);
    const options: ConnectionOptions & { highWaterMark: number } = {
      // The checked address when guarded (servername below stays the name, for SNI and the certificate check).
      host: to?.host ?? target.host,
      port: target.port,
      ...(servername === undefined ? {} : { servername }),
      secureContext: opts.trust.secureContext,
      // Always on; there is deliberately no option to turn it off (SPEC §3).
      rejectUnauthorized: true,
      ALPNProtocols: [...(opts.alpn ?? DEFAULT_ALPN)],
      // As the client side (tls/intercept.ts STREAM_HWM): a streamed body moves a few records per turn, not one.
      highWaterMark: UPSTREAM_HWM,
      ...(session === undefined ? {} : { session }),
      ...(opts.socket === undefined ? {} : { socket: opts.socket }),
      ...lookupOption(opts, to),
    };
    const socket = connect(options);
    const sessions = opts.sessions;
    if (sessions !== undefined) {
      // TLS 1.3 tickets arrive after the handshake; keep the newest for the next connect to this host:port.
      socket.on('session', (s: Buffer) => sessions.set(target.key, s));
    }

    const cleanup = () => {
      clearTimeout(timer);
      socket.off('secureConnect', onSecure);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const fail = (err: ProxyError) => {
      cleanup();
      // A late error from a half-built socket must not become an uncaught exception.
      socket.on('error', noop);
      socket.destroy();
      opts.socket?.destroy();
      // The session may be what the server refused; do not offer it again.
      sessions?.delete(target.key);
      reject(err);
    };
    const onSecure = () => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    };
    const onError = (err: Error) => fail(toUpstreamError(err, 'upstream TLS connect failed'));
    const onClose = () =>
      fail(new ProxyError('upstream_error', 'upstream closed before the TLS handshake finished'));
    const timer = setTimeout(
      () => fail(new ProxyError('upstream_error', 'upstream connect timed out')),
      opts.connectTimeoutMs,
    );

    socket.once('secureConnect', onSecure);
    socket.on('error', onError);
    socket.once('close', onClose);
  });
}

/** The `lookup` a connect uses: the guard's replay of the checked addresses, or the exempt dial's override. */
function lookupOption(
  opts: { readonly socket?: Socket; readonly lookup?: LookupFunction },
  to: ConnectTo | undefined,
): { lookup?: LookupFunction } {
  if (opts.socket !== undefined) return {};
  if (to !== undefined) return to.lookup === undefined ? {} : { lookup: to.lookup };
  return opts.lookup === undefined ? {} : { lookup: opts.lookup };
}

/** Options for a plain TCP dial. */
export interface DialTcpOptions {
  readonly connectTimeoutMs: number;
  /** The destination guard; `null` only for the hop to the upstream proxy (exempt). */
  readonly guard: DestinationGuard | null;
  /** DNS override for an exempt (`guard: null`) dial (tests). */
  readonly lookup?: LookupFunction;
}

/**
 * Open a plain TCP connection (passthrough tunnels, `http://` forwarding, the hop to a chain proxy). Resolves on
 * `connect` with Nagle off; rejects with `destination_not_allowed` (guard) or `upstream_error` (refused,
 * unreachable, timeout), the cause kept.
 */
export function dialTcp(target: HostPort, opts: DialTcpOptions): Promise<Socket> {
  return guardedConnect(opts.guard, target, opts.connectTimeoutMs, (to, connectTimeoutMs) =>
    connectTcp(target, { ...opts, connectTimeoutMs }, to),
  );
}

function connectTcp(target: HostPort, opts: DialTcpOptions, to: ConnectTo | undefined): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = netConnect({
      host: to?.host ?? target.host,
      port: target.port,
      ...lookupOption(opts, to),
    });
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
    };
    const fail = (err: ProxyError) => {
      cleanup();
      socket.on('error', noop);
      socket.destroy();
      reject(err);
    };
    const onConnect = () => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    };
    const onError = (err: Error) => fail(toUpstreamError(err, 'upstream TCP connect failed'));
    const timer = setTimeout(
      () => fail(new ProxyError('upstream_error', 'upstream connect timed out')),
      opts.connectTimeoutMs,
    );
    socket.once('connect', onConnect);
    socket.on('error', onError);
  });
}
