/**
 * A read-only observer of one direction of a WebSocket byte stream: it walks the frame headers (RFC 6455 §5.2) and
 * skips payloads, only to learn whether a Close frame (opcode 0x8) went by. The bytes themselves are relayed
 * untouched by the caller; this never buffers a payload and never changes a byte.
 *
 * Why: the audit must tell a clean end from an abort. A peer whose connection ends after it sent a Close frame
 * ended the WebSocket properly (§7.1.2); one whose connection ends without one vanished (§7.1.5, code 1006).
 * TCP and TLS alone cannot tell them apart — a destroyed client still sends a FIN.
 */

/** What the observer has seen so far. */
export interface CloseWatch {
  /** Observe the next bytes of this direction, in order. */
  feed(chunk: Buffer): void;
  /** True once a Close frame header has passed. */
  readonly closeSeen: boolean;
}

const OPCODE_CLOSE = 0x8;
/** Longest frame header: 2 bytes, an 8-byte extended length, a 4-byte masking key. */
const MAX_HEADER = 14;

/** Start observing a direction from a frame boundary (the first byte after the handshake). */
export function watchCloseFrame(): CloseWatch {
  const header = Buffer.alloc(MAX_HEADER);
  let have = 0;
  let need = 2;
  /** Payload bytes of the current frame still to pass (a JS number: exact up to 2^53, far beyond any real frame). */
  let skip = 0;
  let seen = false;

  const headerDone = () => {
    const len7 = header[1]! & 0x7f;
    if (len7 < 126) skip = len7;
    else if (len7 === 126) skip = header.readUInt16BE(2);
    else skip = header.readUInt32BE(2) * 2 ** 32 + header.readUInt32BE(6);
    if ((header[0]! & 0x0f) === OPCODE_CLOSE) seen = true;
    have = 0;
    need = 2;
  };

  return {
    get closeSeen() {
      return seen;
    },
    feed(chunk) {
      let i = 0;
      while (!seen && i < chunk.length) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - i);
          skip -= n;
          i += n;
          continue;
        }
        header[have++] = chunk[i++]!;
        if (have === 2) {
          const len7 = header[1]! & 0x7f;
          need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (header[1]! & 0x80 ? 4 : 0);
        }
        if (have === need) headerDone();
      }
    },
  };
}
