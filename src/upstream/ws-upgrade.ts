/**
 * Send a WebSocket upgrade request upstream (RFC 6455 §4.1) over the route's pooled, verified TLS connection —
 * directly or through the chain proxy, exactly as any request (pool.ts) — and wait for the answer: a `101` hands
 * back the switched socket, anything else is an ordinary response for the caller to relay.
 */
import { type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError, type ProxyErrorCode } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import { classifyUpstreamError } from './error-codes.js';
import type { UpstreamPool } from './pool.js';

export interface UpgradeArgs {
  readonly pool: UpstreamPool;
  readonly target: HostPort;
  /** Origin-form target, already injected. */
  readonly path: string;
  /** Headers to send: stripped and injected, with `Connection`/`Upgrade` put back by the caller. */
  readonly rawHeaders: readonly string[];
  readonly responseTimeoutMs: number;
}

/** How the upstream answered. */
export type UpgradeAnswer =
  | {
      readonly kind: 'switched';
      readonly res: IncomingMessage;
      readonly socket: Socket;
      readonly head: Buffer;
    }
  | { readonly kind: 'response'; readonly res: IncomingMessage }
  | { readonly kind: 'failed'; readonly code: ProxyErrorCode };

export interface PendingUpgrade {
  readonly answer: Promise<UpgradeAnswer>;
  readonly viaUpstreamProxy: boolean;
  /** The client went away: drop the upstream request (the answer then settles as failed). */
  abort(): void;
}

/** Errors that mean "the pooled socket was already closed by the upstream" (as in forward.ts). */
const STALE_SOCKET_ERRORS: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

function noop(): void {}

export function requestUpgrade(args: UpgradeArgs): PendingUpgrade {
  const { agent, viaUpstreamProxy } = args.pool.agentFor(args.target, 'https');
  let up: ReturnType<typeof request> | undefined;
  let settle!: (a: UpgradeAnswer) => void;
  let settled = false;
  const answer = new Promise<UpgradeAnswer>((resolve) => {
    settle = (a) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(a);
    };
  });
  const timer = setTimeout(() => {
    up?.destroy();
    settle({ kind: 'failed', code: 'upstream_timeout' });
  }, args.responseTimeoutMs);

  let retried = false;
  const send = () => {
    const r = request({
      agent,
      host: args.target.host,
      port: args.target.port,
      method: 'GET',
      path: args.path,
      headers: args.rawHeaders as string[],
      setHost: false,
    });
    r.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      // Node took its own listeners off the switched socket: an error before the relay attaches its own must not
      // become an uncaught exception.
      socket.on('error', noop);
      if (settled) socket.destroy();
      else settle({ kind: 'switched', res, socket, head });
    });
    r.on('response', (res: IncomingMessage) => {
      if (settled) {
        res.destroy();
      } else if (res.statusCode === 101) {
        // A 101 without `Connection: upgrade` (RFC 9110 §7.8): Node does not switch, and relaying it would tell the
        // client a switch happened that did not.
        res.destroy();
        settle({ kind: 'failed', code: 'upstream_error' });
      } else {
        settle({ kind: 'response', res });
      }
    });
    r.on('error', (err: Error) => {
      if (settled) return;
      // A kept-alive socket the upstream had closed: the GET had no body and can be sent again once (forward.ts).
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!retried && r.reusedSocket && STALE_SOCKET_ERRORS.has(code)) {
        retried = true;
        up = send();
        return;
      }
      settle({ kind: 'failed', code: err instanceof ProxyError ? err.code : classifyUpstreamError(err) });
    });
    r.end();
    return r;
  };
  up = send();

  return {
    answer,
    viaUpstreamProxy,
    abort() {
      up?.destroy();
      settle({ kind: 'failed', code: 'upstream_error' });
    },
  };
}
