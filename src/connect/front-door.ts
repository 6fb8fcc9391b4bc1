/**
 * The front door (SPEC §6 CONNECT): read and parse the head by hand, authenticate the workload, decide on the
 * target, then hand the socket to a tunnel, to interception, or to the plain-HTTP forwarder. Every refusal here
 * is one `deny` audit event.
 */
import type { Socket } from 'node:net';
import { denyEvent } from '../audit/emit.js';
import { type ConnInfo, clientAddress, type ProxyContext } from '../context.js';
import type { ProxyErrorCode } from '../errors.js';
import type { ForwardServer } from '../http/forward-plain.js';
import type { H2Server } from '../http/h2-server.js';
import type { InnerServer } from '../http/inner-server.js';
import { authenticate } from '../pipeline/authenticate.js';
import { decideTarget } from '../pipeline/decide-target.js';
import { intercept } from '../tls/intercept.js';
import { parseHead } from './parse-head.js';
import { readHead } from './read-head.js';
import { refuse } from './respond.js';
import { openTunnel } from './tunnel.js';

export interface FrontDoorDeps {
  readonly ctx: ProxyContext;
  readonly forward: ForwardServer;
  readonly inner: InnerServer;
  /** Intercepted connections whose client chose `h2` by ALPN. */
  readonly h2?: H2Server;
}

/** Refuse with a response and audit it. */
function deny(ctx: ProxyContext, conn: ConnInfo, code: ProxyErrorCode): void {
  const status = refuse(conn.socket, code);
  ctx.audit.write(denyEvent(conn, code, status));
}

/** Take a freshly accepted client connection through the front door. Never throws. */
export async function handleConnection(deps: FrontDoorDeps, socket: Socket): Promise<void> {
  const { ctx } = deps;
  const conn: ConnInfo = {
    id: ctx.nextConnId(),
    client: clientAddress(socket),
    socket,
    target: undefined,
    identity: null,
    requests: 0,
  };
  try {
    await frontDoor(deps, conn);
  } catch (err) {
    // A fault in one connection closes that connection only (SPEC §8).
    ctx.logger.error({ conn_id: conn.id, err: errorSummary(err) }, 'connection failed');
    socket.destroy();
  }
}

async function frontDoor(deps: FrontDoorDeps, conn: ConnInfo): Promise<void> {
  const { ctx } = deps;
  const { socket } = conn;
  const { limits } = ctx;

  const read = await readHead(socket, {
    maxHeaderBytes: limits.maxHeaderBytes,
    timeoutMs: limits.headerTimeoutMs,
  });
  if (!read.ok) {
    if (read.code === 'client_closed') {
      socket.destroy();
      return;
    }
    if (read.code === 'header_timeout') {
      socket.destroy();
      ctx.audit.write(denyEvent(conn, 'header_timeout'));
      return;
    }
    deny(ctx, conn, read.code);
    return;
  }

  const parsed = parseHead(read.head);
  if (parsed.kind === 'error') {
    deny(ctx, conn, 'bad_request');
    return;
  }
  if (parsed.kind === 'forward') {
    // Absolute-form http:// requests go to Node's own parser, replayed from the first byte (SPEC §6).
    socket.unshift(read.rest.length ? Buffer.concat([read.head, read.rest]) : read.head);
    deps.forward.accept(conn);
    return;
  }

  conn.target = parsed.target;
  const auth = authenticate(parsed.proxyAuthorization, ctx.workloadToken, ctx.source.identities?.());
  if (!auth.ok) {
    deny(ctx, conn, 'proxy_auth_required');
    return;
  }
  conn.identity = auth.identity;
  const decision = decideTarget(parsed.target, ctx.source.services(), ctx.passthrough);
  if (decision === 'tunnel') {
    await openTunnel(ctx, conn, read.rest);
    return;
  }
  if (decision === 'intercept') {
    await intercept(ctx, conn, read.rest, deps.inner, deps.h2);
    return;
  }
  deny(ctx, conn, decision.code);
}

/** An error's name, code and message, for the operational log (never a request's headers). */
export function errorSummary(err: unknown): { name?: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return { name: err.name, ...(code ? { code } : {}), message: err.message };
  }
  return { message: String(err) };
}
