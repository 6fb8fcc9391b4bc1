/**
 * parseClientHello on ClientHellos captured from real clients (fixtures/client-hellos/, recreated by capture.mjs):
 * SNI and ALPN extracted, every strict prefix is `need_more`, and re-fragmenting the handshake into small
 * records changes nothing but the byte count.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseClientHello } from '../../../src/tls/client-hello.js';

const dir = join(import.meta.dirname, '../../../fixtures/client-hellos');

interface Entry {
  readonly client: string;
  readonly sni: string | null;
  readonly alpn: string[];
  readonly bytes: number;
}

const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, Entry>;
const fixtures = Object.entries(manifest).map(([name, entry]) => ({
  name,
  ...entry,
  data: readFileSync(join(dir, `${name}.bin`)),
}));

/** The handshake layer of a single-record capture (its record header dropped). */
function handshakeOf(data: Buffer): Buffer {
  expect(data.readUInt16BE(3)).toBe(data.length - 5);
  return data.subarray(5);
}

/** Re-cut a handshake message into records of `size` bytes, keeping the capture's record version. */
function refragment(data: Buffer, size: number): Buffer {
  const hs = handshakeOf(data);
  const parts: Buffer[] = [];
  for (let i = 0; i < hs.length; i += size) {
    const piece = hs.subarray(i, i + size);
    const header = Buffer.from([0x16, data[1]!, data[2]!, piece.length >> 8, piece.length & 0xff]);
    parts.push(header, piece);
  }
  return Buffer.concat(parts);
}

/** Every strict prefix must ask for more, with a lower bound that never overshoots where the answer appears. */
function expectEveryPrefixNeedsMore(full: Buffer): void {
  for (let i = 0; i < full.length; i++) {
    const r = parseClientHello(full.subarray(0, i));
    if (r.status !== 'need_more') throw new Error(`prefix ${i}/${full.length}: ${JSON.stringify(r)}`);
    if (r.atLeast <= i || r.atLeast > full.length)
      throw new Error(`prefix ${i}: atLeast ${r.atLeast} out of range`);
  }
}

describe('parseClientHello on captured hellos', () => {
  it('has the expected captures', () => {
    // node, curl, openssl and the hand-built hello; the manifest lists what capture.mjs could record.
    expect(fixtures.map((f) => f.name)).toEqual(
      expect.arrayContaining([
        'node-sni',
        'node-no-sni',
        'node-alpn-http1',
        'node-alpn-h2',
        'chromium-grease-pq',
      ]),
    );
    for (const f of fixtures) expect(f.data.length).toBe(f.bytes);
  });

  it.each(fixtures)('$name ($client): SNI, ALPN and length', ({ data, sni, alpn }) => {
    expect(parseClientHello(data)).toEqual({ status: 'ok', sni: sni ?? undefined, alpn, bytes: data.length });
  });

  it.each(fixtures)('$name: bytes after the hello are not part of it', ({ data, sni }) => {
    const more = Buffer.concat([
      data,
      Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]),
      Buffer.from('junk'),
    ]);
    expect(parseClientHello(more)).toMatchObject({ status: 'ok', sni: sni ?? undefined, bytes: data.length });
  });

  it.each(fixtures)('$name: every strict prefix is need_more', ({ data }) => {
    expectEveryPrefixNeedsMore(data);
  });

  it('the hand-built hello carries a post-quantum key share and is larger than 1.7 KB', () => {
    const f = fixtures.find((x) => x.name === 'chromium-grease-pq')!;
    expect(f.data.length).toBeGreaterThan(1700);
    // X25519MLKEM768 (0x11ec) key share with its 1216-byte key exchange.
    expect(f.data.includes(Buffer.from([0x11, 0xec, 0x04, 0xc0]))).toBe(true);
  });
});

describe('parseClientHello across records', () => {
  const cases = fixtures.flatMap((f) => [1, 7, 100].map((size) => ({ ...f, size })));

  it.each(cases)('$name cut into $size-byte records: same SNI and ALPN', ({ data, sni, alpn, size }) => {
    const cut = refragment(data, size);
    const records = Math.ceil((data.length - 5) / size);
    expect(cut.length).toBe(data.length - 5 + records * 5);
    expect(parseClientHello(cut)).toEqual({ status: 'ok', sni: sni ?? undefined, alpn, bytes: cut.length });
  });

  it.each(fixtures.map((f) => ({ ...f, size: 7 })))(
    '$name in $size-byte records: every prefix is need_more',
    ({ data, size }) => {
      expectEveryPrefixNeedsMore(refragment(data, size));
    },
  );

  it('accepts records whose versions differ (3.1 then 3.3), as TLS 1.3 clients send', () => {
    const data = fixtures.find((f) => f.name === 'node-sni')!.data;
    const cut = refragment(data, 100);
    cut[106] = 0x03; // second record header starts at 105
    cut[107] = 0x03;
    expect(parseClientHello(cut)).toMatchObject({ status: 'ok', sni: 'api.upstream.test' });
  });

  it('refuses a handshake message that only parts of a record cover: data after it', () => {
    const data = fixtures.find((f) => f.name === 'node-sni')!.data;
    const hs = handshakeOf(data);
    const extra = Buffer.concat([hs, Buffer.from([0x14, 0x00, 0x00, 0x00])]);
    const record = Buffer.concat([
      Buffer.from([0x16, 0x03, 0x01, extra.length >> 8, extra.length & 0xff]),
      extra,
    ]);
    expect(parseClientHello(record)).toEqual({
      status: 'invalid',
      why: 'data follows the ClientHello in its record',
    });
  });
});
