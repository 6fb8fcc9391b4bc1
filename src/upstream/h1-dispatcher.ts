/**
 * The HTTP/1.1 request/response path to one upstream route: an undici `Pool` whose sockets come from the proxy's
 * own dialers (verified TLS, destination guard, chaining). undici keeps one llhttp parser per socket and takes raw
 * header arrays, so a forwarded request costs no `ClientRequest`, `IncomingMessage` or per-request listener
 * bookkeeping on the socket: measured in docs/performance.md.
 *
 * Each socket lives in its own `Client`; {@link RouteClient} counts the responses completed on its current socket
 * so a handler can tell a kept-alive socket from a fresh one (only a request on a reused socket that the upstream
 * had already closed is sent again, forward.ts).
 */
import type { Duplex } from 'node:stream';
import type { Dispatcher, Client as UndiciClient, Pool as UndiciPool } from 'undici';
import { Client, Pool } from './undici-classes.js';

/** A dispatch handler that learns which client (and so which socket) carries it. */
export interface RouteHandler extends Dispatcher.DispatchHandler {
  /** Set by {@link RouteClient.dispatch} before the request can be written. */
  route?: RouteClient;
}

/** A single-socket undici client that knows how many responses its current socket has carried. */
export class RouteClient extends Client {
  /** Responses completed on the current socket; 0 again once it closes (the next request dials afresh). */
  served = 0;

  constructor(origin: string | URL, options: UndiciClient.Options) {
    super(origin, options);
    this.on('disconnect', () => {
      this.served = 0;
    });
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: RouteHandler): boolean {
    handler.route = this;
    return super.dispatch(options, handler);
  }
}

export interface RouteDispatcherOptions {
  /** Dial one connected socket for the route (TLS already verified, or plain TCP for `http://`). */
  readonly connect: () => Promise<Duplex>;
  /** Idle keep-alive sockets are closed after this long; also the cap on an upstream's `Keep-Alive: timeout`. */
  readonly keepAliveIdleMs: number;
  /** Cap on concurrent sockets (undefined: unlimited, as Node's Agent). */
  readonly maxSockets?: number;
}

/**
 * The route's pool. `origin` only names the route (undici needs one); the `Host` header each request carries is
 * what the upstream sees, and the dialer decides where the socket goes.
 */
export function createRouteDispatcher(origin: string, opts: RouteDispatcherOptions): UndiciPool {
  return new Pool(origin, {
    connect: (_info, callback) => {
      opts.connect().then(
        (socket) => callback(null, socket as never),
        (err: Error) => callback(err, null),
      );
    },
    factory: (url, options) => new RouteClient(url, options as UndiciClient.Options),
    pipelining: 1,
    keepAliveTimeout: opts.keepAliveIdleMs,
    keepAliveMaxTimeout: opts.keepAliveIdleMs,
    // forward.ts bounds the wait for a response head (upstream_response_timeout_ms); a body may stream for as
    // long as it keeps moving (server-sent events, long downloads), so undici's own timers are off.
    headersTimeout: 0,
    bodyTimeout: 0,
    ...(opts.maxSockets === undefined ? {} : { connections: opts.maxSockets }),
  });
}
