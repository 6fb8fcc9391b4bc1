/**
 * Read a request head off a freshly accepted client socket (SPEC §6): everything up to and including the first
 * CRLFCRLF, within `max_header_bytes` and within `header_timeout_ms`. Parsing is `parse-head.ts`'s job; this file
 * only frames the bytes and enforces the limits that must hold while they arrive.
 */
import type { Socket } from 'node:net';

/** Why no head could be read. `headers_too_large` and `bad_request` can still be answered; the others cannot. */
export type HeadFailure = 'headers_too_large' | 'header_timeout' | 'client_closed' | 'bad_request';

/** The outcome of {@link readHead}; a value, never a rejection. */
export type HeadResult =
  | {
      readonly ok: true;
      /** The head, through and including its terminating CRLFCRLF. */
      readonly head: Buffer;
      /** Bytes that arrived after the head (a tunnel's or TLS session's first bytes, or a body); may be empty. */
      readonly rest: Buffer;
    }
  | { readonly ok: false; readonly code: HeadFailure; readonly bytesRead: number };

export interface ReadHeadOptions {
  /** The largest head accepted, CRLFCRLF included (`limits.max_header_bytes`); one byte more is 431. */
  readonly maxHeaderBytes: number;
  /**
   * `header_timeout_ms`: the whole head must arrive within this many ms of the connection's first byte. It is a
   * deadline, not an idle timer (SPEC §6), so a client trickling one byte at a time cannot stretch it.
   */
  readonly timeoutMs: number;
  /** How long to wait for the first byte at all; defaults to `timeoutMs`. A silent connection is closed too. */
  readonly idleMs?: number;
}

const CR = 0x0d;
const LF = 0x0a;
// RFC 9110 §5.6.2 tchar: the only bytes a method (and so a request line) may start with.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/**
 * Read one request head from `socket`.
 *
 * The clock: the deadline starts at the first byte received, which this function observes itself, so the caller
 * passes durations rather than a timestamp. Before the first byte an `idleMs` timer runs instead; only one timer
 * is ever armed, and it is cleared on every outcome.
 *
 * Framing is strict: an LF not preceded by CR is `bad_request` at once (SPEC §6: a bare LF is 400), and so is a
 * first byte that cannot start a method token — a TLS ClientHello (0x16) sent without CONNECT can never become a
 * valid head, so it is refused now instead of waiting out the deadline. Only the first `maxHeaderBytes` bytes are
 * ever scanned or kept.
 *
 * On every outcome the socket is left paused, with every listener this function added removed (`'error'` included:
 * the caller must keep its own `'error'` guard). Bytes read past the head are returned in `rest` and NOT unshifted:
 * the caller decides — a forwarded `http://` request replays head and rest into Node's parser, a tunnel writes
 * `rest` upstream, interception peeks the ClientHello in it. On failure the socket is neither written nor closed:
 * the caller answers 431/400 or destroys it.
 */
export function readHead(socket: Socket, opts: ReadHeadOptions): Promise<HeadResult> {
  return new Promise<HeadResult>((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    // How much of CR LF CR LF the stream currently ends with (0–3), and the last byte seen, across chunks.
    let matched = 0;
    let prev = -1;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const cleanup = (): void => {
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      socket.pause();
      socket.removeListener('error', onClosed);
      socket.removeListener('data', onData);
      socket.removeListener('end', onClosed);
      socket.removeListener('close', onClosed);
    };
    const fail = (code: HeadFailure): void => {
      cleanup();
      resolve({ ok: false, code, bytesRead: total });
    };
    function onClosed(): void {
      if (!settled) fail('client_closed');
    }
    function onData(chunk: Buffer): void {
      if (settled) return;
      if (total === 0) {
        // First byte: swap the wait-for-anything timer for the §6 deadline.
        clearTimeout(timer);
        timer = setTimeout(() => fail('header_timeout'), opts.timeoutMs);
        if (chunk.length > 0 && TCHAR[chunk[0] ?? 0] !== 1) {
          total = chunk.length;
          fail('bad_request');
          return;
        }
      }
      const offset = total;
      total += chunk.length;
      // Scan only up to the limit: nothing beyond max_header_bytes can belong to an acceptable head.
      const scanEnd = Math.min(chunk.length, opts.maxHeaderBytes - offset);
      for (let i = 0; i < scanEnd; i++) {
        const b = chunk[i];
        if (b === LF) {
          if (prev !== CR) {
            fail('bad_request');
            return;
          }
          matched = matched === 3 ? 4 : 2;
        } else {
          matched = b === CR ? (matched === 2 ? 3 : 1) : 0;
        }
        prev = b ?? -1;
        if (matched === 4) {
          chunks.push(chunk.subarray(0, i + 1));
          const head = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
          const rest = chunk.subarray(i + 1);
          cleanup();
          resolve({ ok: true, head, rest });
          return;
        }
      }
      if (total >= opts.maxHeaderBytes) {
        fail('headers_too_large');
        return;
      }
      chunks.push(chunk);
    }

    // 'error' first (STYLE habit 6): a reset before the first byte must not become an uncaught exception.
    socket.on('error', onClosed);
    if (socket.destroyed || socket.readableEnded) {
      fail('client_closed');
      return;
    }
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('data', onData);
    timer = setTimeout(() => fail('header_timeout'), opts.idleMs ?? opts.timeoutMs);
    // A socket the caller paused stays paused when a 'data' listener is added; reading must start explicitly.
    socket.resume();
  });
}
