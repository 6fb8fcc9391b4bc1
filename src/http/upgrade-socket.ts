/**
 * The response side of an upgrade request. Node's server, on an `Upgrade` request with an 'upgrade' listener,
 * detaches its parser and hands over the bare socket: no `ServerResponse` exists. This makes one (as Node's own
 * `parserOnIncoming` does), so a denial or a relayed non-101 is written with the same framing, `Date` and
 * keep-alive handling as any response, and afterwards puts the socket back into the HTTP server — the connection
 * keeps its HTTP/1.1 semantics (RFC 9110 §7.8: a server may ignore an Upgrade and answer normally).
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Hand the raw socket over for the new protocol; afterwards `res` is dead and the socket not resumed. */
export type TakeOver = () => { socket: Socket; head: Buffer };

/** RFC 9112 §9.3: HTTP/1.1 persists unless `close` is among the connection options; HTTP/1.0 does not. */
function persistent(req: IncomingMessage): boolean {
  if (req.httpVersion !== '1.1') return false;
  const connection = req.headers.connection ?? '';
  return !connection.split(',').some((o) => o.trim().toLowerCase() === 'close');
}

/**
 * Give `run` a response bound to `socket` and a way to take the socket over. When the response finishes and the
 * connection persists, `resume(socket, head)` serves the following requests (`head` holds any bytes already read
 * past this request); otherwise the socket is ended.
 */
export function runUpgrade(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  run: (res: ServerResponse, takeOver: TakeOver) => void,
  resume: (socket: Socket, head: Buffer) => void,
): void {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = persistent(req);
  res.assignSocket(socket);
  let taken = false;
  res.once('finish', () => {
    if (taken) return;
    res.detachSocket(socket);
    if (socket.destroyed) return;
    if (res.shouldKeepAlive) resume(socket, head);
    else socket.end();
  });
  run(res, () => {
    taken = true;
    res.detachSocket(socket);
    return { socket, head };
  });
}
