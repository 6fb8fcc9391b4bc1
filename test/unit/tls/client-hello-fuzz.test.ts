/**
 * Property tests for parseClientHello (fast-check, fixed seeds so a failure replays): truncated, mutated,
 * re-fragmented and random inputs never throw, never report bytes beyond the buffer, and never return an SNI
 * or ALPN name that is not in the handshake bytes they were given.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClientHelloResult, parseClientHello } from '../../../src/tls/client-hello.js';

const dir = join(import.meta.dirname, '../../../fixtures/client-hellos');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;
const hellos = Object.keys(manifest).map((name) => readFileSync(join(dir, `${name}.bin`)));
const RUNS = 3000;

/**
 * Independent oracle: the handshake bytes the records within `buf[0, bytes)` carry, read as latin1 and
 * lower-cased, so a reported SNI can be looked for in what the client really sent.
 */
function handshakeText(buf: Buffer, bytes: number): string {
  const parts: Buffer[] = [];
  for (let off = 0; off + 5 <= bytes; off += 5 + buf.readUInt16BE(off + 3)) {
    parts.push(buf.subarray(off + 5, Math.min(off + 5 + buf.readUInt16BE(off + 3), bytes)));
  }
  return Buffer.concat(parts).toString('latin1').toLowerCase();
}

/** The invariants every result must satisfy, whatever the input. */
function checkInvariants(buf: Buffer, r: ClientHelloResult): void {
  expect(['need_more', 'ok', 'not_tls', 'invalid']).toContain(r.status);
  if (r.status === 'need_more') expect(r.atLeast).toBeGreaterThan(buf.length);
  if (r.status === 'invalid') expect(r.why.length).toBeGreaterThan(0);
  if (r.status !== 'ok') return;
  expect(r.bytes).toBeGreaterThan(0);
  expect(r.bytes).toBeLessThanOrEqual(buf.length);
  const text = handshakeText(buf, r.bytes);
  if (r.sni !== undefined) {
    expect(r.sni).toMatch(/^[a-z0-9._-]{1,255}$/);
    expect(text).toContain(r.sni);
  }
  for (const name of r.alpn) expect(text).toContain(name.toLowerCase());
}

function refragment(data: Buffer, sizes: number[]): Buffer {
  const hs = data.subarray(5);
  const parts: Buffer[] = [];
  for (let i = 0, k = 0; i < hs.length; k++) {
    const piece = hs.subarray(i, i + sizes[k % sizes.length]!);
    parts.push(Buffer.from([0x16, 0x03, 0x01, piece.length >> 8, piece.length & 0xff]), piece);
    i += piece.length;
  }
  return Buffer.concat(parts);
}

const hello = fc.integer({ min: 0, max: hellos.length - 1 }).map((i) => hellos[i]!);

describe('parseClientHello properties', () => {
  it('mutated and truncated captures: no throw, no invented SNI', () => {
    const edits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    });
    fc.assert(
      fc.property(hello, edits, fc.option(fc.nat()), (data, changes, cut) => {
        const buf = Buffer.from(data);
        for (const [at, value] of changes) buf[at % buf.length] = value;
        const input = cut === null ? buf : buf.subarray(0, cut % (buf.length + 1));
        checkInvariants(input, parseClientHello(input));
      }),
      { seed: 0x5e1f, numRuns: RUNS },
    );
  });

  it('mutations inside the SNI and ALPN region of a capture: no throw, no invented SNI', () => {
    // Bias edits toward the extensions, where the interesting length fields are.
    fc.assert(
      fc.property(
        hello,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (data, changes) => {
          const buf = Buffer.from(data);
          const start = Math.max(5, buf.length - 400);
          for (const [at, value] of changes) buf[start + (at % (buf.length - start))] = value;
          checkInvariants(buf, parseClientHello(buf));
        },
      ),
      { seed: 0xc1e7, numRuns: RUNS },
    );
  });

  it('random bytes behind a handshake record header: no throw', () => {
    const prefix = fc.constantFrom(
      Buffer.alloc(0),
      Buffer.from([0x16, 0x03, 0x01]),
      Buffer.from([0x16, 0x03, 0x03, 0x00]),
    );
    fc.assert(
      fc.property(prefix, fc.uint8Array({ maxLength: 600 }), (head, tail) => {
        const buf = Buffer.concat([head, tail]);
        checkInvariants(buf, parseClientHello(buf));
      }),
      { seed: 0x7a11, numRuns: RUNS },
    );
  });

  it('any re-fragmentation parses to the same SNI and ALPN, and every prefix needs more', () => {
    const sizes = fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(hello, sizes, fc.nat(), (data, cutSizes, at) => {
        const whole = parseClientHello(data);
        const cut = refragment(data, cutSizes);
        const r = parseClientHello(cut);
        expect(whole.status).toBe('ok');
        expect(r).toEqual({ ...whole, bytes: cut.length });
        const prefix = cut.subarray(0, at % cut.length);
        const p = parseClientHello(prefix);
        expect(p.status).toBe('need_more');
        if (p.status === 'need_more') {
          expect(p.atLeast).toBeGreaterThan(prefix.length);
          expect(p.atLeast).toBeLessThanOrEqual(cut.length);
        }
      }),
      { seed: 0xf4a9, numRuns: RUNS },
    );
  });
});
