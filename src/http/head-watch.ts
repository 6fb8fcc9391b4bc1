/**
 * The request-head deadline inside a connection whose HTTP is parsed by Node (SPEC §6: the head within
 * `header_timeout_ms` counted from its first byte). Node enforces `headersTimeout` only on servers that listen;
 * ours never do, so this does it.
 *
 * It polls `socket.bytesRead` instead of listening for `'data'`: a `'data'` listener would take the socket off
 * the HTTP parser's fast path (Node's server "unconsumes" a socket when one is added) and cost a call per chunk.
 * The first byte is therefore placed at the previous check, so the connection is closed between
 * `timeoutMs` and `timeoutMs + step` after it — never earlier.
 */
import type { Socket } from 'node:net';

export interface HeadWatch {
  /** No request in flight: the next bytes start a head, which must end within the deadline. */
  idle(): void;
  /** A request head was parsed: stop watching until `idle()`. */
  busy(): void;
}

export function watchHeads(socket: Socket, timeoutMs: number, onTimeout: () => void): HeadWatch {
  const step = Math.max(25, Math.floor(timeoutMs / 4));
  let timer: NodeJS.Timeout | undefined;
  let base = 0;
  let lastCheck = 0;
  let firstByteBy: number | undefined;

  const check = () => {
    // A closed socket's bytesRead never moves again: stop, or this timer would hold the socket forever.
    if (socket.destroyed) {
      timer = undefined;
      return;
    }
    const now = Date.now();
    if (firstByteBy === undefined && socket.bytesRead !== base) firstByteBy = lastCheck;
    if (firstByteBy !== undefined && now - firstByteBy >= timeoutMs) {
      timer = undefined;
      onTimeout();
      return;
    }
    lastCheck = now;
    timer = setTimeout(check, step);
  };
  const stop = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  socket.once('close', stop);

  return {
    idle() {
      stop();
      // A response that ends because its client went away calls idle() after the socket's 'close' ran stop().
      if (socket.destroyed) return;
      base = socket.bytesRead;
      lastCheck = Date.now();
      firstByteBy = undefined;
      timer = setTimeout(check, step);
    },
    busy: stop,
  };
}
