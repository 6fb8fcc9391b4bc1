/**
 * parseClientHello on hand-built hellos, one field wrong at a time: every bounds check, the SNI byte rules,
 * the record-layer rules, not_tls on the first byte. Table-driven; each row names the exact outcome.
 */
import { describe, expect, it } from 'vitest';
import {
  type ClientHelloResult,
  MAX_RECORD_LENGTH,
  parseClientHello,
} from '../../../src/tls/client-hello.js';

const u8 = (n: number): Buffer => Buffer.from([n]);
const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer): Buffer => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const ext = (type: number, data: Buffer = Buffer.alloc(0)): Buffer => Buffer.concat([u16(type), vec16(data)]);
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** server_name extension with the given (name_type, name) entries. */
const sni = (...entries: [number, Buffer][]): Buffer =>
  ext(0, vec16(Buffer.concat(entries.map(([t, n]) => Buffer.concat([u8(t), vec16(n)])))));
const host = (name: string): Buffer => sni([0, latin1(name)]);
const alpn = (...names: string[]): Buffer => ext(16, vec16(Buffer.concat(names.map((n) => vec8(latin1(n))))));

interface Body {
  version?: number;
  session?: Buffer;
  suites?: Buffer;
  compression?: Buffer;
  /** Extension bytes; null leaves the extensions block out entirely. */
  extensions?: Buffer | null;
}

function body(b: Body = {}): Buffer {
  const parts = [
    u16(b.version ?? 0x0303),
    Buffer.alloc(32, 0xab),
    vec8(b.session ?? Buffer.alloc(32, 1)),
    b.suites ?? vec16(Buffer.from([0x13, 0x01, 0xc0, 0x2f])),
    b.compression ?? vec8(u8(0)),
  ];
  if (b.extensions !== null) parts.push(vec16(b.extensions ?? host('example.com')));
  return Buffer.concat(parts);
}

const handshake = (payload: Buffer, type = 1): Buffer =>
  Buffer.concat([u8(type), u24(payload.length), payload]);
const record = (fragment: Buffer, type = 0x16, version = 0x0301): Buffer =>
  Buffer.concat([u8(type), u16(version), u16(fragment.length), fragment]);
const hello = (b: Body = {}): Buffer => record(handshake(body(b)));
const withExtensions = (...exts: Buffer[]): Buffer => hello({ extensions: Buffer.concat(exts) });

interface Row {
  readonly label: string;
  readonly buf: Buffer;
  readonly expected: ClientHelloResult;
}
const ok = (buf: Buffer, sniValue: string | undefined, alpnList: string[] = []): Row => ({
  label: `ok, sni ${sniValue === undefined ? 'absent' : sniValue.slice(0, 20)}`,
  buf,
  expected: { status: 'ok', sni: sniValue, alpn: alpnList, bytes: buf.length },
});
const bad = (buf: Buffer, why: string): Row => ({
  label: `invalid: ${why}`,
  buf,
  expected: { status: 'invalid', why },
});

describe('parseClientHello: the first bytes', () => {
  it.each([
    ['empty', Buffer.alloc(0), { status: 'need_more', atLeast: 1 }],
    ["'G' (plain HTTP)", latin1('G'), { status: 'not_tls' }],
    ['GET request', latin1('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), { status: 'not_tls' }],
    ['SSLv2-style hello', Buffer.from([0x80, 0x2e, 0x01, 0x03, 0x01]), { status: 'not_tls' }],
    ['application-data record', record(Buffer.alloc(8), 0x17), { status: 'not_tls' }],
    ['handshake type, version major 2', Buffer.from([0x16, 0x02]), { status: 'not_tls' }],
    ['handshake byte alone', u8(0x16), { status: 'need_more', atLeast: 2 }],
    ['0x16 0x03', Buffer.from([0x16, 0x03]), { status: 'need_more', atLeast: 3 }],
    [
      'a full record header',
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]),
      { status: 'need_more', atLeast: 9 },
    ],
  ] as const)('%s', (_name, buf, expected) => {
    expect(parseClientHello(buf)).toEqual(expected);
  });
});

describe('parseClientHello: SNI', () => {
  it.each([
    ok(hello(), 'example.com'),
    ok(withExtensions(host('API.Example.COM')), 'api.example.com'),
    ok(withExtensions(host('under_score-1.example')), 'under_score-1.example'),
    ok(withExtensions(host('a'.repeat(255))), 'a'.repeat(255)),
    ok(withExtensions(alpn('h2', 'http/1.1')), undefined, ['h2', 'http/1.1']),
    ok(hello({ extensions: null }), undefined),
    ok(hello({ extensions: Buffer.alloc(0) }), undefined),
    // Only host_name (type 0) counts; another name type alone leaves the SNI undefined.
    ok(withExtensions(sni([1, latin1('other')])), undefined),
    ok(withExtensions(sni([1, latin1('other')], [0, latin1('example.org')])), 'example.org'),
    ok(withExtensions(ext(0x0a0a), host('grease.example'), ext(0x1a1a, u8(0))), 'grease.example'),
    bad(withExtensions(host('exa\0mple.com')), 'host_name holds a byte not allowed in a hostname'),
    bad(withExtensions(host('example.com\0')), 'host_name holds a byte not allowed in a hostname'),
    bad(withExtensions(host('exa mple.com')), 'host_name holds a byte not allowed in a hostname'),
    bad(withExtensions(host('evil.com/x')), 'host_name holds a byte not allowed in a hostname'),
    bad(withExtensions(host('user@evil.com')), 'host_name holds a byte not allowed in a hostname'),
    bad(withExtensions(host('evil.com:443')), 'host_name holds a byte not allowed in a hostname'),
    bad(withExtensions(host('caf\u00e9.example')), 'host_name holds a byte not allowed in a hostname'),
    bad(withExtensions(host('a'.repeat(256))), 'host_name length out of range'),
    bad(withExtensions(host('')), 'host_name length out of range'),
    bad(withExtensions(sni([0, latin1('a.example')], [0, latin1('b.example')])), 'more than one host_name'),
    bad(withExtensions(host('a.example'), host('b.example')), 'duplicate extension'),
    bad(withExtensions(ext(0, Buffer.alloc(0))), 'server_name list length is wrong'),
    bad(withExtensions(ext(0, u16(0))), 'server_name list length is wrong'),
    bad(
      withExtensions(ext(0, Buffer.from([0x00, 0x09, 0x00, 0x00, 0x04, 0x61]))),
      'server_name list length is wrong',
    ),
    bad(
      withExtensions(ext(0, Buffer.from([0x00, 0x04, 0x00, 0x00, 0x05, 0x61]))),
      'server_name entry overruns its list',
    ),
    bad(withExtensions(ext(0, Buffer.from([0x00, 0x02, 0x00, 0x00]))), 'server_name entry truncated'),
  ])('row %$: $label', ({ buf, expected }) => {
    expect(parseClientHello(buf)).toEqual(expected);
  });
});

describe('parseClientHello: body and extension bounds', () => {
  it.each([
    bad(hello({ version: 0x0203 }), 'client_version is not 3.x'),
    bad(hello({ session: Buffer.alloc(33) }), 'session_id longer than 32 bytes'),
    bad(hello({ suites: vec16(Buffer.from([0x13])) }), 'cipher_suites length is zero or odd'),
    bad(hello({ suites: vec16(Buffer.alloc(0)) }), 'cipher_suites length is zero or odd'),
    bad(hello({ compression: vec8(Buffer.alloc(0)) }), 'no compression_methods'),
    bad(record(handshake(Buffer.alloc(20))), 'ClientHello too short'),
    bad(record(handshake(body({ extensions: null }).subarray(0, 36))), 'cipher_suites truncated'),
    bad(
      record(handshake(Buffer.concat([body({ extensions: null }), u8(0)]))),
      'extensions length does not match the ClientHello',
    ),
    bad(
      record(handshake(Buffer.concat([body(), u8(0)]))),
      'extensions length does not match the ClientHello',
    ),
    // The suites length points past the end of the message.
    bad(
      hello({ suites: Buffer.concat([u16(0x0400), Buffer.from([0x13, 0x01])]), extensions: null }),
      'compression_methods truncated',
    ),
    bad(hello({ compression: Buffer.from([0x09, 0x00]), extensions: null }), 'compression_methods truncated'),
    bad(withExtensions(Buffer.from([0x00, 0x17, 0x00])), 'extension header truncated'),
    bad(
      withExtensions(Buffer.from([0x00, 0x17, 0x00, 0x08, 0x00])),
      'extension overruns the extensions block',
    ),
    bad(withExtensions(ext(23), ext(23)), 'duplicate extension'),
    bad(withExtensions(alpn('h2', '')), 'ALPN protocol name empty or truncated'),
    bad(
      withExtensions(ext(16, vec16(Buffer.from([0x05, 0x68, 0x32])))),
      'ALPN protocol name empty or truncated',
    ),
    bad(withExtensions(ext(16, u16(0))), 'ALPN list length is wrong'),
    bad(withExtensions(ext(16, Buffer.from([0x00, 0x07, 0x02, 0x68, 0x32]))), 'ALPN list length is wrong'),
  ])('row %$: $label', ({ buf, expected }) => {
    expect(parseClientHello(buf)).toEqual(expected);
  });
});

describe('parseClientHello: record and handshake layers', () => {
  const hs = handshake(body());
  const split = (at: number, second = 0x16): Buffer =>
    Buffer.concat([record(hs.subarray(0, at)), record(hs.subarray(at), second)]);

  it.each([
    [
      'handshake split over two records',
      split(2),
      { status: 'ok', sni: 'example.com', alpn: [], bytes: hs.length + 10 },
    ],
    [
      'an alert record inside the hello',
      split(40, 0x15),
      { status: 'invalid', why: 'a non-handshake record arrived before the ClientHello ended' },
    ],
    [
      'application data inside the hello',
      split(40, 0x17),
      { status: 'invalid', why: 'a non-handshake record arrived before the ClientHello ended' },
    ],
    [
      'a bad partial second header',
      Buffer.concat([record(hs.subarray(0, 40)), u8(0x17)]),
      { status: 'invalid', why: 'a non-handshake record arrived before the ClientHello ended' },
    ],
    [
      'an empty record',
      Buffer.concat([record(Buffer.alloc(0)), record(hs)]),
      { status: 'invalid', why: 'empty handshake record' },
    ],
    [
      'a record over 2^14+256',
      Buffer.from([0x16, 0x03, 0x01, 0x41, 0x01]),
      { status: 'invalid', why: 'record longer than 2^14+256 bytes' },
    ],
    [
      'a record of exactly 2^14+256 (header only)',
      Buffer.concat([u8(0x16), u16(0x0301), u16(MAX_RECORD_LENGTH)]),
      { status: 'need_more', atLeast: 9 },
    ],
    [
      'a ServerHello',
      record(handshake(body(), 2)),
      { status: 'invalid', why: 'first handshake message is not a ClientHello' },
    ],
    [
      'a hello over 64 KiB',
      record(Buffer.concat([u8(1), u24(0x010000), Buffer.alloc(20)])),
      { status: 'invalid', why: 'ClientHello larger than 64 KiB' },
    ],
    // Record and handshake lengths that point past the end: wait for more, never read beyond the buffer.
    [
      'record length past the end',
      record(hs).subarray(0, 30),
      { status: 'need_more', atLeast: 5 + hs.length },
    ],
    // A 500-byte message in a shorter record: the rest must come in further records, each at least a header.
    [
      'handshake length past the record',
      record(Buffer.concat([u8(1), u24(500), body()])),
      { status: 'need_more', atLeast: 5 + 4 + 500 + 5 },
    ],
  ] as const)('%s', (_name, buf, expected) => {
    expect(parseClientHello(buf)).toEqual(expected);
  });
});
