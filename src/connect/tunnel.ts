/**
 * Passthrough tunnels (SPEC §6): dial the target (directly or through the upstream proxy), answer `200`, then
 * copy bytes both ways with back-pressure and half-close, and write one `tunnel` audit event when both sides
 * are gone.
 */
import type { Socket } from 'node:net';
import { denyEvent, tunnelEvent } from '../audit/emit.js';
import { durationMs } from '../audit/events.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import type { AuditReason } from '../errors.js';
import { ProxyError } from '../errors.js';
import { CONNECT_ESTABLISHED, refuse } from './respond.js';

/** After one side has closed, how long the other may take to flush and close on its own. */
const HALF_CLOSE_GRACE_MS = 5_000;

export async function openTunnel(ctx: ProxyContext, conn: ConnInfo, initial: Buffer): Promise<void> {
  const client = conn.socket;
  const target = conn.target!;
  const start = process.hrtime.bigint();
  const end = ctx.tracker.begin(client);
  let clientGone = false;
  const onEarlyClose = () => {
    clientGone = true;
  };
  client.once('close', onEarlyClose);

  let upstream: Socket;
  let viaUpstreamProxy: boolean;
  try {
    ({ socket: upstream, viaUpstreamProxy } = await ctx.pool.dialRaw(target));
  } catch (err) {
    client.off('close', onEarlyClose);
    end();
    const code = err instanceof ProxyError ? err.code : 'upstream_error';
    const status = refuse(client, code);
    ctx.audit.write(denyEvent(conn, code, status));
    return;
  }
  client.off('close', onEarlyClose);
  if (clientGone || client.destroyed) {
    upstream.destroy();
    end();
    return;
  }

  let bytesIn = initial.length;
  let bytesOut = 0;
  let reason: AuditReason | undefined;
  let open = 2;
  const finish = () => {
    if (--open > 0) return;
    ctx.audit.write(
      tunnelEvent(conn, {
        bytesIn,
        bytesOut,
        durationMs: durationMs(start),
        viaUpstreamProxy,
        ...(reason ? { reason } : {}),
      }),
    );
    end();
  };
  const idle = () => {
    reason ??= 'idle_timeout';
    client.destroy();
    upstream.destroy();
  };
  const fail = () => {
    client.destroy();
    upstream.destroy();
  };
  const closeOther = (other: Socket) => () => {
    if (other.destroyed) return;
    other.end();
    // The closed side's pipe has just unpiped, and unpipe pauses a source left without destinations: keep reading
    // (and counting) what the other peer still sends, or its FIN is never seen and the tunnel lingers for the
    // whole grace period with the audit event held back (proxy-chain does the same: close → resume()).
    other.resume();
    setTimeout(() => other.destroy(), HALF_CLOSE_GRACE_MS).unref();
  };

  client.on('error', fail);
  upstream.on('error', fail);
  client.on('data', (chunk: Buffer) => {
    bytesIn += chunk.length;
  });
  upstream.on('data', (chunk: Buffer) => {
    // Bytes to the client (SPEC §10): what the upstream still sends after the client is gone is read and dropped.
    if (client.writable) bytesOut += chunk.length;
  });
  client.setTimeout(ctx.limits.idleTimeoutMs, idle);
  upstream.setTimeout(ctx.limits.idleTimeoutMs, idle);
  client.once('close', closeOther(upstream));
  upstream.once('close', closeOther(client));
  client.once('close', finish);
  upstream.once('close', finish);

  ctx.tracker.attach(client, upstream);
  upstream.setNoDelay(true);
  client.write(CONNECT_ESTABLISHED);
  // Bytes the client pipelined behind its CONNECT belong to the tunnel (SPEC §6: kept for the next stage).
  if (initial.length) upstream.write(initial);
  client.pipe(upstream);
  upstream.pipe(client);
  client.resume();
}
