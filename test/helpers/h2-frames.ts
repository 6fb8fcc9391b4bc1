/**
 * Hand-made HTTP/2 frames (RFC 9113 §4, §6) for tests that must send what a conforming client never would: a
 * stream reset right after its HEADERS, a header block that never ends, CONTINUATION without END_HEADERS. Header
 * blocks use only HPACK "literal header field without indexing — new name" (RFC 7541 §6.2.2), so no encoder state
 * is needed. `readFrames` parses what the peer sends back, enough to see SETTINGS, RST_STREAM and GOAWAY.
 */
import type { TLSSocket } from 'node:tls';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  GOAWAY: 7,
  CONTINUATION: 9,
} as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** One frame: 9-octet header (length, type, flags, stream id) and payload. */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** RFC 7541 §5.1 integer with an N-bit prefix; `first` carries the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(bytes.length, 7), bytes]);
}

/** A header block of literal fields without indexing, new names (names must be lower case). */
export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(fields.flatMap(([n, v]) => [Buffer.from([0x00]), hpackString(n), hpackString(v)]));
}

/** A GET's request header list for `authority`. */
export function getFields(authority: string, path = '/'): [string, string][] {
  return [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':authority', authority],
    [':path', path],
  ];
}

/** RST_STREAM with `code` (default CANCEL, 0x8). */
export function rstStream(streamId: number, code = 0x8): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, p);
}

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/**
 * Parse the frames `socket` receives; `onFrame` sees each one. The peer's SETTINGS are acknowledged, as RFC 9113
 * §6.5.3 requires, so a session is not closed for that reason.
 */
export function readFrames(socket: TLSSocket, onFrame: (f: Frame) => void = () => {}): Frame[] {
  const seen: Frame[] = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const f: Frame = {
        type: buf[3]!,
        flags: buf[4]!,
        streamId: buf.readUInt32BE(5) & 0x7fffffff,
        payload: buf.subarray(9, 9 + len),
      };
      buf = buf.subarray(9 + len);
      seen.push(f);
      if (f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK) && socket.writable) {
        socket.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
      }
      onFrame(f);
    }
  });
  return seen;
}

/** Resolves when `socket` has closed (at once if it already has). */
export function socketClosed(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once('close', () => resolve());
  });
}

/** GOAWAY's error code (RFC 9113 §6.8), from the frame's payload. */
export function goawayCode(f: Frame): number {
  return f.payload.readUInt32BE(4);
}
