/**
 * The client-facing TCP listener (SPEC §6): enforces `max_connections` before any byte is read, and hands every
 * other connection to the front door.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { denyEvent } from '../audit/emit.js';
import type { ListenAddress } from '../config/types.js';
import { type ConnInfo, clientAddress, type ProxyContext } from '../context.js';
import { refuse } from './respond.js';

export interface Listener {
  readonly server: Server;
  readonly address: string;
  readonly port: number;
}

/**
 * Bind and resolve once listening; rejects with the bind error (the CLI maps it to exit 6). `current` gives the
 * context in force (it changes on a config reload), read once per accepted connection. `shared`: a cluster worker's
 * listener, which must not be exclusive so that node:cluster hands every worker the primary's one socket.
 */
export function listen(
  current: () => ProxyContext,
  at: ListenAddress,
  onConnection: (socket: Socket) => void,
  shared = false,
): Promise<Listener> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: false, noDelay: true });
  server.on('connection', (socket: Socket) => {
    const ctx = current();
    socket.on('error', (err: NodeJS.ErrnoException) => {
      ctx.logger.debug({ code: err.code, message: err.message }, 'client socket error');
    });
    if (ctx.tracker.draining) {
      socket.destroy();
      return;
    }
    if (ctx.tracker.size >= ctx.limits.maxConnections) {
      const conn: ConnInfo = {
        id: ctx.nextConnId(),
        client: clientAddress(socket),
        socket,
        target: undefined,
        identity: null,
        requests: 0,
      };
      const status = refuse(socket, 'overloaded');
      ctx.audit.write(denyEvent(conn, 'overloaded', status));
      return;
    }
    ctx.tracker.add(socket);
    onConnection(socket);
  });
  return new Promise<Listener>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen({ host: at.host, port: at.port, exclusive: !shared }, () => {
      server.off('error', onError);
      server.on('error', (err: Error) => current().logger.error({ err: err.message }, 'listener error'));
      const addr = server.address();
      if (addr === null || typeof addr === 'string') {
        reject(new Error('listener has no TCP address'));
        return;
      }
      resolve({ server, address: addr.address, port: addr.port });
    });
  });
}
