/**
 * An HTTP/1.1 request/response pair as the relay's client half (upstream/relay.ts), used when the upstream speaks
 * HTTP/2. Trailers from the upstream are not passed to an HTTP/1.1 client (that would need a chunked response
 * announcing them); everything else behaves as forward.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientSide } from '../upstream/relay.js';
import { sendError } from './send-error.js';

export function h1ClientSide(req: IncomingMessage, res: ServerResponse): ClientSide {
  const te = req.headers['transfer-encoding'];
  const length = req.headers['content-length'];
  return {
    method: req.method ?? 'GET',
    hasBody: te !== undefined || (length !== undefined && length !== '0'),
    body: req,
    bodyComplete: () => req.complete,
    respond(status, rawHeaders) {
      res.writeHead(status, rawHeaders as string[]);
      return res;
    },
    sendError(code) {
      const status = sendError(res, code);
      // A request whose body is still arriving cannot be answered cleanly on a kept-alive connection.
      if (status !== null && !req.complete) res.once('finish', () => req.socket.destroy());
      return status;
    },
    cut: () => res.destroy(),
    onSettled(cb) {
      const socket = req.socket;
      let called = false;
      const once = (how: 'done' | 'gone') => {
        if (called) return;
        called = true;
        socket.off('close', onClose);
        cb(how);
      };
      const onClose = () => once(res.writableFinished ? 'done' : 'gone');
      res.once('finish', () => once('done'));
      res.once('close', onClose);
      // A response queued behind another (pipelining) gets no 'close' of its own (forward.ts): watch the socket.
      socket.once('close', onClose);
    },
  };
}
