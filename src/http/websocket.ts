/**
 * Carry one WebSocket upgrade that the pipeline allowed (SPEC §12, RFC 6455 §4): send it upstream, then either
 * relay the `101` head and pipe frames both ways (ws-relay.ts), or relay whatever else the upstream answered as an
 * ordinary response on the still-HTTP connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { UpstreamOutcome } from '../audit/emit.js';
import type { ProxyContext } from '../context.js';
import type { AuditReason } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import { stripHeaders } from '../pipeline/strip.js';
import { requestUpgrade } from '../upstream/ws-upgrade.js';
import { sendError } from './send-error.js';
import type { TakeOver } from './upgrade-socket.js';
import { relayFrames } from './ws-relay.js';

export interface CarryArgs {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly takeOver: TakeOver;
  /** The socket the connection tracker knows the client connection by. */
  readonly tracked: Socket;
  readonly target: HostPort;
  /** Origin-form target and headers to send upstream: injected, with `Connection`/`Upgrade` put back. */
  readonly path: string;
  readonly rawHeaders: readonly string[];
}

/**
 * The `101` head for the client, as the upstream sent it: every header line in its order and case, latin1 as
 * Node's parser read it, so `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol` and `-Extensions` reach the client's
 * handshake check unchanged. (They answer the client's own `Sec-WebSocket-*` headers, which were passed through.)
 */
export function switchingHead(res: IncomingMessage): string {
  let head = `HTTP/1.1 101 ${res.statusMessage ?? ''}\r\n`;
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** Carry the upgrade; resolves when it is over (the WebSocket closed, or the plain response sent). */
export async function carryWebSocket(ctx: ProxyContext, args: CarryArgs): Promise<UpstreamOutcome> {
  const { req, res } = args;
  const pending = requestUpgrade({
    pool: ctx.pool,
    target: args.target,
    path: args.path,
    rawHeaders: args.rawHeaders,
    responseTimeoutMs: ctx.limits.upstreamResponseTimeoutMs,
  });
  const via = pending.viaUpstreamProxy;
  const clientSocket = req.socket;
  let clientGone = clientSocket.destroyed;
  const onGone = () => {
    clientGone = true;
    pending.abort();
  };
  clientSocket.once('close', onGone);
  const answer = await pending.answer;
  clientSocket.off('close', onGone);

  if (clientGone) {
    if (answer.kind === 'switched') answer.socket.destroy();
    if (answer.kind === 'response') answer.res.destroy();
    return { status: null, bytesIn: 0, bytesOut: 0, viaUpstreamProxy: via, reason: 'client_aborted' };
  }
  if (answer.kind === 'failed') {
    const status = sendError(res, answer.code);
    return { status, bytesIn: 0, bytesOut: 0, viaUpstreamProxy: via, reason: answer.code };
  }
  if (answer.kind === 'response') return relayResponse(res, answer.res, via);

  const { socket, head } = args.takeOver();
  socket.write(switchingHead(answer.res), 'latin1');
  const relayed = await relayFrames(ctx, {
    client: socket,
    clientHead: head,
    upstream: answer.socket,
    upstreamHead: answer.head,
    tracked: args.tracked,
  });
  return { status: 101, viaUpstreamProxy: via, ...relayed };
}

/**
 * A non-101 answer (RFC 6455 §4.1: the handshake failed; the client sees why) relayed like any response: its
 * hop-by-hop headers stripped, its body streamed, cut short — never completed — if the upstream fails mid-body.
 */
function relayResponse(res: ServerResponse, ures: IncomingMessage, via: boolean): Promise<UpstreamOutcome> {
  const status = ures.statusCode ?? 502;
  let bytesOut = 0;
  let reason: AuditReason | undefined;
  res.writeHead(status, ures.statusMessage, stripHeaders(ures.rawHeaders));
  return new Promise<UpstreamOutcome>((resolve) => {
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      resolve({ status, bytesIn: 0, bytesOut, viaUpstreamProxy: via, ...(reason ? { reason } : {}) });
    };
    const cut = () => {
      reason ??= 'upstream_error';
      res.destroy();
      settle();
    };
    ures.on('data', (chunk: Buffer) => {
      bytesOut += chunk.length;
    });
    ures.on('error', cut);
    ures.on('aborted', cut);
    res.once('finish', settle);
    res.socket?.once('close', () => {
      if (res.writableFinished) return;
      reason ??= 'client_aborted';
      ures.destroy();
      settle();
    });
    ures.pipe(res);
  });
}
