import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ParsedHead, parseHead } from '../../../src/connect/parse-head.js';

const RUNS = 2000;
const SEED = 20261129;

const VALID_HEADS = [
  'CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\nProxy-Authorization: Basic dTp0\r\n\r\n',
  'CONNECT [::1]:8443 HTTP/1.1\r\n\r\n',
  'CONNECT 10.0.0.5:443 HTTP/1.0\r\nUser-Agent: x\r\n\r\n',
  'GET http://example.com:8080/x?y=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n',
].map((s) => Buffer.from(s, 'latin1'));

/** The shape every result must have, whatever the input: checks the union is well-formed, not just non-throwing. */
function assertWellFormed(r: ParsedHead): void {
  if (r.kind === 'error') {
    expect(r.code).toBe('bad_request');
    expect(typeof r.why).toBe('string');
  } else if (r.kind === 'connect') {
    expect(r.target.port).toBeGreaterThanOrEqual(1);
    expect(r.target.port).toBeLessThanOrEqual(65535);
    expect(Array.isArray(r.headers)).toBe(true);
  } else {
    expect(r.kind).toBe('forward');
    expect(r.url.pathWithQuery.startsWith('/')).toBe(true);
  }
}

/** Apply a list of edits (overwrite, delete, insert a byte) to a valid head. */
const mutated = fc
  .tuple(
    fc.constantFrom(...VALID_HEADS),
    fc.array(fc.tuple(fc.constantFrom('set', 'del', 'ins'), fc.nat(), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    }),
  )
  .map(([base, edits]) => {
    const bytes = [...base];
    for (const [op, at, byte] of edits) {
      const i = bytes.length === 0 ? 0 : at % bytes.length;
      if (op === 'set') bytes[i] = byte;
      else if (op === 'del') bytes.splice(i, 1);
      else bytes.splice(i, 0, byte);
    }
    return Buffer.from(bytes);
  });

describe('parseHead never throws', () => {
  it('on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        assertWellFormed(parseHead(Buffer.from(bytes)));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('on random bytes ending in CRLFCRLF', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        assertWellFormed(parseHead(Buffer.concat([Buffer.from(bytes), Buffer.from('\r\n\r\n')])));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('on printable text shaped like a request', () => {
    const line = fc.string({
      unit: fc.constantFrom(...'CONNECTGEThtp:/[]@.1234567890 \t:abcXY-_\r\n'),
      maxLength: 60,
    });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 6 }), (lines) => {
        assertWellFormed(parseHead(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('on random mutations of valid heads', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        assertWellFormed(parseHead(bytes));
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('on every truncation of valid heads, accepting none of them', () => {
    for (const base of VALID_HEADS) {
      expect(parseHead(base).kind).not.toBe('error');
      for (let n = 0; n < base.length; n++) {
        const r = parseHead(base.subarray(0, n));
        // A head cut anywhere before its final CRLFCRLF is never accepted.
        expect(r.kind).toBe('error');
      }
    }
  });

  it('accepts a mutated CONNECT only when its request line is still strict', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        const r = parseHead(bytes);
        if (r.kind !== 'connect') return;
        const text = bytes.toString('latin1');
        expect(text.startsWith('CONNECT ')).toBe(true);
        expect(text.endsWith('\r\n\r\n')).toBe(true);
        // Every LF in an accepted head follows a CR.
        for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) expect(bytes[i - 1]).toBe(0x0d);
        expect(text).not.toContain('\x00');
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });
});
