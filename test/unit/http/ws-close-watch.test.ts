/**
 * The read-only Close-frame observer (RFC 6455 §5.2): it must find a Close frame at any split of the stream, after
 * payloads of every length encoding, masked or not — and never mistake payload bytes for a frame header.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { watchCloseFrame } from '../../../src/http/ws-close-watch.js';

/** One frame: FIN set, `opcode`, a payload of `len` bytes of `fill`, masked when `mask`. */
function frame(opcode: number, len: number, mask: boolean, fill = 0x88): Buffer {
  const ext = len < 126 ? 0 : len < 65_536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  head[0] = 0x80 | opcode;
  head[1] = (mask ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (mask) head.fill(0x88, 2 + ext);
  return Buffer.concat([head, Buffer.alloc(len, fill)]);
}

function feedAll(chunks: Buffer[]): boolean {
  const w = watchCloseFrame();
  for (const c of chunks) w.feed(c);
  return w.closeSeen;
}

/** Cut `buf` at the given offsets. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    out.push(buf.subarray(from, p));
    from = p;
  }
  out.push(buf.subarray(from));
  return out;
}

describe('watchCloseFrame', () => {
  it('sees a Close frame after text, 16-bit and 64-bit length frames, masked and not', () => {
    for (const mask of [true, false]) {
      const stream = Buffer.concat([
        frame(0x1, 5, mask),
        frame(0x2, 300, mask),
        frame(0x2, 70_000, mask),
        frame(0x9, 2, mask),
        frame(0x8, 2, mask),
      ]);
      expect(feedAll([stream])).toBe(true);
    }
  });

  it('does not take payload bytes that look like a Close header for one', () => {
    // 0x88 is exactly a FIN+Close first byte: every payload byte here would be a "Close" if misread.
    const stream = Buffer.concat([frame(0x2, 200, true, 0x88), frame(0x1, 70_000, false, 0x88)]);
    expect(feedAll([stream])).toBe(false);
  });

  it('finds the Close frame at any split of the stream (property)', () => {
    const stream = Buffer.concat([frame(0x1, 125, true), frame(0x2, 126, false), frame(0x8, 0, true)]);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: stream.length }), { maxLength: 12 }), (cuts) => {
        expect(feedAll(split(stream, cuts))).toBe(true);
        expect(feedAll(split(stream.subarray(0, stream.length - 6), cuts))).toBe(false);
      }),
    );
  });

  it('byte by byte', () => {
    const stream = Buffer.concat([frame(0xa, 3, false), frame(0x8, 4, false)]);
    expect(feedAll([...stream].map((b) => Buffer.from([b])))).toBe(true);
  });
});
