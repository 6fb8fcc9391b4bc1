/**
 * The WebSocket data phase: after the `101`, frames are piped both ways unchanged, with back-pressure and
 * half-close, until both sides are gone (the passthrough tunnel's shape, connect/tunnel.ts). Bytes are counted
 * and the frame headers observed read-only (ws-close-watch.ts) so the one audit event can say how it ended.
 */
import type { Socket } from 'node:net';
import type { ProxyContext } from '../context.js';
import type { AuditReason } from '../errors.js';
import { watchCloseFrame } from './ws-close-watch.js';

/** After one side has closed, how long the other may take to flush and close on its own (as tunnel.ts). */
const HALF_CLOSE_GRACE_MS = 5_000;

/** Run `fn` on the socket's 'close', or soon if it has already closed (its event then came and went). */
function whenClosed(socket: Socket, fn: () => void): void {
  if (socket.closed) queueMicrotask(fn);
  else socket.once('close', fn);
}

export interface RelayEnds {
  /** The client's decrypted socket, and what it sent past its request head. */
  readonly client: Socket;
  readonly clientHead: Buffer;
  /** The switched upstream socket, and what the upstream sent past its `101` head. */
  readonly upstream: Socket;
  readonly upstreamHead: Buffer;
  /** The socket the connection tracker knows the client connection by (ConnInfo.socket). */
  readonly tracked: Socket;
}

export interface RelayOutcome {
  /** Frame bytes from the client to the upstream. */
  readonly bytesIn: number;
  /** Frame bytes from the upstream to the client. */
  readonly bytesOut: number;
  readonly reason?: AuditReason;
}

/**
 * Pipe until both sides have closed. How it ended: a side whose connection ends (or fails) before it sent a
 * Close frame aborted — `client_aborted` or `upstream_error`; no bytes either way for `idle_timeout_ms` —
 * `idle_timeout`; the first of these wins. The proxy closing it at a drain deadline counts as the client's
 * connection going away, `client_aborted`, as for any request cut short there.
 */
export function relayFrames(ctx: ProxyContext, ends: RelayEnds): Promise<RelayOutcome> {
  const { client, upstream } = ends;
  const fromClient = watchCloseFrame();
  const fromUpstream = watchCloseFrame();
  let bytesIn = 0;
  let bytesOut = 0;
  let reason: AuditReason | undefined;

  const blame = (side: 'client' | 'upstream') => {
    const watch = side === 'client' ? fromClient : fromUpstream;
    if (!watch.closeSeen) reason ??= side === 'client' ? 'client_aborted' : 'upstream_error';
  };
  // Sockets whose peer ended or failed them; a socket that closes without either was closed by the proxy.
  const peerDone = new Set<Socket>();
  const fail = (side: 'client' | 'upstream', self: Socket) => () => {
    peerDone.add(self);
    blame(side);
    client.destroy();
    upstream.destroy();
  };
  const idle = () => {
    reason ??= 'idle_timeout';
    client.destroy();
    upstream.destroy();
  };
  const gone = new Set<Socket>();
  const closeOther = (side: 'client' | 'upstream', self: Socket, other: Socket) => (how: 'end' | 'close') => {
    if (how === 'end') peerDone.add(self);
    if (gone.has(self)) return;
    gone.add(self);
    // Closed by the proxy with no reason of its own yet: a drain deadline or close() (SPEC §8), audited as for
    // any request cut short there — the client's connection went away.
    if (peerDone.has(self)) blame(side);
    else reason ??= 'client_aborted';
    if (other.destroyed) return;
    if (!other.writableEnded) other.end();
    // As tunnel.ts: keep reading what the other peer still sends, or its FIN is never seen.
    other.resume();
    setTimeout(() => other.destroy(), HALF_CLOSE_GRACE_MS).unref();
  };

  return new Promise<RelayOutcome>((resolve) => {
    let open = 2;
    const finish = () => {
      if (--open > 0) return;
      resolve({ bytesIn, bytesOut, ...(reason ? { reason } : {}) });
    };
    client.on('error', fail('client', client));
    upstream.on('error', fail('upstream', upstream));
    client.on('data', (chunk: Buffer) => {
      bytesIn += chunk.length;
      fromClient.feed(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      fromUpstream.feed(chunk);
      // Bytes to the client (SPEC §10): what arrives after the client is gone is read and dropped.
      if (client.writable) bytesOut += chunk.length;
    });
    // SPEC §6 idle_timeout_ms: no bytes either way for that long closes the WebSocket, as it does a tunnel.
    client.setTimeout(ctx.limits.idleTimeoutMs, idle);
    upstream.setTimeout(ctx.limits.idleTimeoutMs, idle);
    const clientGone = closeOther('client', client, upstream);
    const upstreamGone = closeOther('upstream', upstream, client);
    client.once('end', () => clientGone('end'));
    upstream.once('end', () => upstreamGone('end'));
    whenClosed(client, () => {
      clientGone('close');
      finish();
    });
    whenClosed(upstream, () => {
      upstreamGone('close');
      finish();
    });
    // SPEC §8: the drain destroys the upstream side with the client connection at its deadline.
    ctx.tracker.attach(ends.tracked, upstream);

    if (ends.upstreamHead.length > 0) {
      fromUpstream.feed(ends.upstreamHead);
      bytesOut += ends.upstreamHead.length;
      client.write(ends.upstreamHead);
    }
    if (ends.clientHead.length > 0) {
      fromClient.feed(ends.clientHead);
      bytesIn += ends.clientHead.length;
      upstream.write(ends.clientHead);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
}
