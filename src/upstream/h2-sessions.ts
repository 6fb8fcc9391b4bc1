/**
 * HTTP/2 to the upstream (RFC 9113): which protocol each route speaks, and one multiplexed session per route.
 *
 * The first request on a route dials with ALPN `h2, http/1.1`. An upstream that picks `h2` gets a
 * `ClientHttp2Session` that every later request on the route shares; one that picks HTTP/1.1 (or no ALPN) has the
 * dialled socket adopted by the route's keep-alive agent, and the route is remembered as HTTP/1.1 so the hot path
 * stays a Map lookup. A session full to the peer's SETTINGS_MAX_CONCURRENT_STREAMS makes the next stream open a
 * second session; a session that received GOAWAY (or failed, or went idle) takes no new streams and closes once its
 * streams are done, so new streams go to a fresh one.
 */
import { type ClientHttp2Session, connect } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import { ProxyError } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import type { UpstreamPool } from './pool.js';

/** The protocol a route was found to speak. */
export type RouteProtocol = 'h1' | 'h2';

/** A session with room for one more stream, already counted as taken. `release()` gives the slot back. */
export interface H2Lease {
  readonly session: ClientHttp2Session;
  readonly viaUpstreamProxy: boolean;
  release(): void;
}

/** What {@link UpstreamProtocols.open} found: the route speaks HTTP/1.1, or here is an HTTP/2 stream slot. */
export type OpenResult = { readonly kind: 'h1' } | ({ readonly kind: 'h2' } & H2Lease);

export interface UpstreamProtocols {
  /** The protocol learned for the target's route, or undefined before the first dial. */
  known(target: HostPort): RouteProtocol | undefined;
  /** Find a stream slot, dialling (and learning the protocol) when needed. Rejects with a ProxyError. */
  open(target: HostPort): Promise<OpenResult>;
  close(): void;
}

/** Until the peer's SETTINGS arrive (RFC 9113 §6.5.2: initially unlimited), assume the common 100. */
const DEFAULT_PEER_STREAMS = 100;
const MAX_ROUNDS = 4;
const ALPN: readonly string[] = Object.freeze(['h2', 'http/1.1']);

interface Live {
  readonly session: ClientHttp2Session;
  readonly viaUpstreamProxy: boolean;
  active: number;
  /** GOAWAY received, failed or closing: no new streams. */
  retired: boolean;
}

interface RouteState {
  protocol: RouteProtocol | undefined;
  readonly sessions: Live[];
  /** A dial in progress, shared by every request that finds no room meanwhile. */
  dialing: Promise<void> | undefined;
}

export interface UpstreamProtocolsOptions {
  readonly pool: UpstreamPool;
  /** An HTTP/2 session with no open stream for this long is closed (as the HTTP/1.1 keep-alive sockets). */
  readonly idleMs: number;
}

export function createUpstreamProtocols(opts: UpstreamProtocolsOptions): UpstreamProtocols {
  const routes = new Map<string, RouteState>();
  const stateFor = (target: HostPort): RouteState => {
    const key = opts.pool.route(target, 'https').key;
    let state = routes.get(key);
    if (state === undefined) {
      state = { protocol: undefined, sessions: [], dialing: undefined };
      routes.set(key, state);
    }
    return state;
  };

  const lease = (live: Live): OpenResult => {
    live.active++;
    let released = false;
    return {
      kind: 'h2',
      session: live.session,
      viaUpstreamProxy: live.viaUpstreamProxy,
      release() {
        if (released) return;
        released = true;
        live.active--;
      },
    };
  };

  const room = (state: RouteState): Live | undefined => {
    for (const live of state.sessions) {
      if (live.retired || live.session.closed || live.session.destroyed) continue;
      const max = live.session.remoteSettings.maxConcurrentStreams ?? DEFAULT_PEER_STREAMS;
      if (live.active < max) return live;
    }
    return undefined;
  };

  const adoptSession = (
    state: RouteState,
    target: HostPort,
    socket: TLSSocket,
    viaUpstreamProxy: boolean,
  ) => {
    // The socket is already verified TLS with `h2` negotiated; the URL only names the default :authority.
    const session = connect(`https://${target.key}`, { createConnection: () => socket });
    const live: Live = { session, viaUpstreamProxy, active: 0, retired: false };
    const retire = () => {
      live.retired = true;
      const i = state.sessions.indexOf(live);
      if (i >= 0) state.sessions.splice(i, 1);
    };
    // GOAWAY: streams the peer accepted finish, then the session closes; new ones go to a fresh session
    // (RFC 9113 §6.8).
    session.on('goaway', () => {
      retire();
      session.close();
    });
    session.on('close', retire);
    // A session error also fails its streams, which report it to their requests; here it only retires.
    session.on('error', retire);
    session.setTimeout(opts.idleMs, () => {
      if (live.active === 0) {
        retire();
        session.close();
      }
    });
    state.sessions.push(live);
    // The peer's first SETTINGS frame (its stream limit) is part of its connection preface (RFC 9113 §3.4):
    // the session takes streams once it has arrived.
    return new Promise<void>((resolve) => {
      const done = () => {
        session.off('remoteSettings', done);
        session.off('close', done);
        resolve();
      };
      session.once('remoteSettings', done);
      session.once('close', done);
    });
  };

  const dial = (target: HostPort, state: RouteState): Promise<void> => {
    state.dialing ??= opts.pool
      .dialTls(target, ALPN)
      .then(({ socket, viaUpstreamProxy }) => {
        if (socket.alpnProtocol === 'h2') {
          state.protocol = 'h2';
          return adoptSession(state, target, socket, viaUpstreamProxy);
        }
        state.protocol = 'h1';
        opts.pool.adopt(target, socket);
      })
      .finally(() => {
        state.dialing = undefined;
      });
    return state.dialing;
  };

  return {
    known(target) {
      return routes.get(opts.pool.route(target, 'https').key)?.protocol;
    },
    async open(target) {
      const state = stateFor(target);
      // No session with room: wait for a dial in progress, or start one. A new session others filled first (or
      // a peer allowing 0 streams) sends us round again, a bounded number of times.
      for (let round = 0; round < MAX_ROUNDS; round++) {
        if (state.protocol === 'h1') return { kind: 'h1' };
        const live = room(state);
        if (live !== undefined) return lease(live);
        await (state.dialing ?? dial(target, state));
      }
      throw new ProxyError('upstream_error', 'no HTTP/2 stream slot on the upstream');
    },
    close() {
      for (const state of routes.values()) {
        for (const live of state.sessions.splice(0)) live.session.destroy();
      }
      routes.clear();
    },
  };
}
