/**
 * Peek the ClientHello on an intercepted connection without consuming it (SPEC §6 Interception): read until
 * `client-hello.ts` can decide, then put every byte back so the TLS server socket built on top replays them.
 */
import type { Socket } from 'node:net';
import { type ClientHelloResult, MAX_HELLO_BYTES, parseClientHello } from './client-hello.js';

/**
 * Default cap on the bytes buffered while waiting for a decision: a maximal hello plus room for it to be cut into
 * many small records. Past it the connection is `invalid`, whatever the records claim.
 */
export const DEFAULT_MAX_PEEK_BYTES = 2 * MAX_HELLO_BYTES;

/** Options for {@link peekClientHello}. */
export interface PeekOptions {
  /** Bytes the front door already read after the CONNECT head; they come first, before anything on the socket. */
  readonly initial?: Buffer;
  /** Absolute time (ms since the epoch) by which a decision must be reached, else `timeout` (SPEC §6). */
  readonly deadline: number;
  /** Give up with `invalid` once this many bytes are buffered without a decision; {@link DEFAULT_MAX_PEEK_BYTES}. */
  readonly maxBytes?: number;
}

/**
 * The outcome of {@link peekClientHello}; a value, never a rejection. `buffered` is `initial` followed by every byte
 * read from the socket, in order. Only on `ok` are those bytes unshifted back onto the socket.
 */
export type PeekResult =
  | {
      readonly status: 'ok';
      readonly sni: string | undefined;
      readonly alpn: string[];
      readonly buffered: Buffer;
    }
  | { readonly status: 'not_tls' | 'invalid' | 'timeout' | 'closed'; readonly buffered: Buffer };

type Decided =
  | Exclude<ClientHelloResult, { status: 'need_more' }>
  | { status: 'invalid' | 'timeout' | 'closed' };

/**
 * Read the ClientHello from `socket` and decide.
 *
 * `not_tls` is decided from the first byte, without waiting for more. `closed` covers an `'end'`, `'close'` or
 * `'error'` before a decision. On every outcome the socket is left paused, every listener this function added is
 * removed (`'error'` included: the caller must keep its own guard) and the timer is cleared. On `ok` the bytes are
 * unshifted, so `new tls.TLSSocket(socket, { isServer: true })` sees the hello from its first byte (Node's TLSSocket
 * drains a wrapped socket's readable buffer into the TLS engine before reading from the handle). On any other
 * outcome nothing is put back: the caller closes the connection.
 */
export function peekClientHello(socket: Socket, opts: PeekOptions): Promise<PeekResult> {
  return new Promise<PeekResult>((resolve) => {
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_PEEK_BYTES;
    let chunks: Buffer[] = [];
    let length = 0;
    // The parser's lower bound for the next useful parse: a client trickling bytes one by one (or in one-byte
    // records) is then parsed O(log n) times instead of once per byte, which would be quadratic.
    let atLeast = 1;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const onClosed = (): void => finish({ status: 'closed' });
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      length += chunk.length;
      decide();
    };
    // Attach 'error' before anything else can emit one (STYLE habit 6).
    socket.on('error', onClosed);

    function flatten(): Buffer {
      if (chunks.length !== 1) chunks = [Buffer.concat(chunks, length)];
      return chunks[0]!;
    }

    function finish(result: Decided): void {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      socket.pause();
      socket.removeListener('error', onClosed);
      socket.removeListener('end', onClosed);
      socket.removeListener('close', onClosed);
      socket.removeListener('data', onData);
      const buffered = flatten();
      // A stream that has already ended cannot take bytes back (ERR_STREAM_UNSHIFT_AFTER_END_EVENT).
      if (result.status === 'ok' && (socket.destroyed || socket.readableEnded)) {
        resolve({ status: 'closed', buffered });
      } else if (result.status === 'ok') {
        // Paused, so the unshifted bytes wait in front of anything still buffered, in arrival order.
        socket.unshift(buffered);
        resolve({ status: 'ok', sni: result.sni, alpn: result.alpn, buffered });
      } else {
        resolve({ status: result.status, buffered });
      }
    }

    function decide(): void {
      if (length < atLeast && length <= maxBytes) return;
      const result = parseClientHello(flatten());
      if (result.status !== 'need_more') finish(result);
      else if (length > maxBytes) finish({ status: 'invalid' });
      else atLeast = result.atLeast;
    }

    if (opts.initial !== undefined && opts.initial.length > 0) {
      chunks.push(opts.initial);
      length = opts.initial.length;
      decide();
      if (settled) return;
    }
    const wait = opts.deadline - Date.now();
    if (socket.destroyed || socket.readableEnded) {
      finish({ status: 'closed' });
      return;
    }
    if (wait <= 0) {
      finish({ status: 'timeout' });
      return;
    }
    timer = setTimeout(() => finish({ status: 'timeout' }), wait);
    socket.on('end', onClosed);
    socket.on('close', onClosed);
    socket.on('data', onData);
    socket.resume();
  });
}
