import { describe, expect, it } from 'vitest';
import { parseHead } from '../../../src/connect/parse-head.js';

/** Build a head from lines: each ends in CRLF, then the blank line. */
function head(...lines: string[]): Buffer {
  return Buffer.from(`${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1');
}

describe('parseHead: CONNECT accepted', () => {
  it.each([
    [
      'name',
      head('CONNECT api.example.com:443 HTTP/1.1'),
      'api.example.com',
      443,
      'name',
      'api.example.com:443',
    ],
    [
      'upper-case name',
      head('CONNECT API.Example.COM:8443 HTTP/1.1'),
      'api.example.com',
      8443,
      'name',
      'api.example.com:8443',
    ],
    [
      'trailing dot',
      head('CONNECT example.com.:443 HTTP/1.1'),
      'example.com',
      443,
      'name',
      'example.com:443',
    ],
    ['IPv4', head('CONNECT 10.0.0.5:8443 HTTP/1.1'), '10.0.0.5', 8443, 'ipv4', '10.0.0.5:8443'],
    ['[v6]', head('CONNECT [::1]:443 HTTP/1.1'), '::1', 443, 'ipv6', '[::1]:443'],
    [
      '[v6] long',
      head('CONNECT [2001:DB8:0:0:0:0:0:1]:1 HTTP/1.1'),
      '2001:db8::1',
      1,
      'ipv6',
      '[2001:db8::1]:1',
    ],
    ['port 65535', head('CONNECT h.test:65535 HTTP/1.1'), 'h.test', 65535, 'name', 'h.test:65535'],
    ['HTTP/1.0', head('CONNECT h.test:443 HTTP/1.0'), 'h.test', 443, 'name', 'h.test:443'],
    [
      'with headers',
      head('CONNECT h.test:443 HTTP/1.1', 'Host: h.test:443', 'User-Agent: curl/8.5.0', 'Content-Length: 0'),
      'h.test',
      443,
      'name',
      'h.test:443',
    ],
  ])('%s', (_label, input, host, port, kind, key) => {
    const r = parseHead(input);
    expect(r.kind).toBe('connect');
    if (r.kind !== 'connect') return;
    expect(r.target).toEqual({ host, port, kind, key });
  });

  it('keeps header names as sent, trims values, and returns Proxy-Authorization', () => {
    const r = parseHead(
      head(
        'CONNECT h.test:443 HTTP/1.1',
        'HOST:h.test:443',
        'proxy-AUTHORIZATION: \t Basic dTp0\t ',
        'X-Empty:',
      ),
    );
    expect(r).toEqual({
      kind: 'connect',
      target: { host: 'h.test', port: 443, kind: 'name', key: 'h.test:443' },
      version: 'HTTP/1.1',
      headers: [
        ['HOST', 'h.test:443'],
        ['proxy-AUTHORIZATION', 'Basic dTp0'],
        ['X-Empty', ''],
      ],
      proxyAuthorization: 'Basic dTp0',
    });
  });

  it('has no Proxy-Authorization when none was sent', () => {
    const r = parseHead(head('CONNECT h.test:443 HTTP/1.1', 'Host: h.test'));
    expect(r.kind === 'connect' && r.proxyAuthorization).toBe(undefined);
  });

  it('keeps obs-text (0x80-0xFF) and HTAB inside a value', () => {
    const r = parseHead(head('CONNECT h.test:443 HTTP/1.1', 'X-A: caf\xe9\tau lait'));
    expect(r.kind === 'connect' && r.headers[0]).toEqual(['X-A', 'caf\xe9\tau lait']);
  });
});

describe('parseHead: forward (absolute-form http://)', () => {
  it.each([
    ['GET http://example.com/x?y HTTP/1.1', 'GET', 'example.com', 80, '/x?y'],
    ['GET http://example.com:8080/ HTTP/1.1', 'GET', 'example.com', 8080, '/'],
    ['GET http://example.com HTTP/1.1', 'GET', 'example.com', 80, '/'],
    ['GET http://example.com?q=1 HTTP/1.1', 'GET', 'example.com', 80, '/?q=1'],
    ['POST HTTP://Example.COM/a/b HTTP/1.0', 'POST', 'example.com', 80, '/a/b'],
    ['DELETE http://[::1]:8080/r HTTP/1.1', 'DELETE', '::1', 8080, '/r'],
    ['GET http://127.0.0.1/ HTTP/1.1', 'GET', '127.0.0.1', 80, '/'],
  ])('%s', (line, method, host, port, pathWithQuery) => {
    const r = parseHead(head(line, 'Host: whatever'));
    expect(r.kind).toBe('forward');
    if (r.kind !== 'forward') return;
    expect(r.method).toBe(method);
    expect(r.target).toBe(line.split(' ')[1]);
    expect(r.url.host.host).toBe(host);
    expect(r.url.host.port).toBe(port);
    expect(r.url.pathWithQuery).toBe(pathWithQuery);
  });

  it('returns the forward request Proxy-Authorization too', () => {
    const r = parseHead(head('GET http://a.test/ HTTP/1.1', 'Proxy-Authorization: Basic eDp5'));
    expect(r.kind === 'forward' && r.proxyAuthorization).toBe('Basic eDp5');
  });
});

describe('parseHead: bad_request', () => {
  const bad: Array<[string, Buffer]> = [
    ['empty', Buffer.alloc(0)],
    ['only the blank line', Buffer.from('\r\n\r\n')],
    ['leading empty line', Buffer.from('\r\nCONNECT h.test:443 HTTP/1.1\r\n\r\n')],
    ['not terminated', Buffer.from('CONNECT h.test:443 HTTP/1.1\r\n')],
    ['bare LF everywhere', Buffer.from('CONNECT h.test:443 HTTP/1.1\n\n')],
    ['bare LF in a header line', Buffer.from('CONNECT h.test:443 HTTP/1.1\r\nHost: h\nX: y\r\n\r\n')],
    ['bare LF ending the request line', Buffer.from('CONNECT h.test:443 HTTP/1.1\nHost: h\r\n\r\n')],
    ['bare CR in a header value', head('CONNECT h.test:443 HTTP/1.1', 'X: a\rb')],
    ['lower-case method', head('connect h.test:443 HTTP/1.1')],
    ['mixed-case method', head('Connect h.test:443 HTTP/1.1')],
    ['missing port', head('CONNECT h.test HTTP/1.1')],
    ['empty port', head('CONNECT h.test: HTTP/1.1')],
    ['port 0', head('CONNECT h.test:0 HTTP/1.1')],
    ['port 65536', head('CONNECT h.test:65536 HTTP/1.1')],
    ['signed port', head('CONNECT h.test:+443 HTTP/1.1')],
    ['userinfo in the target', head('CONNECT user:pass@h.test:443 HTTP/1.1')],
    ['unbracketed v6', head('CONNECT ::1:443 HTTP/1.1')],
    ['v6 without port', head('CONNECT [::1] HTTP/1.1')],
    ['absolute-form CONNECT', head('CONNECT http://h.test:443/ HTTP/1.1')],
    ['extra part', head('CONNECT h.test:443 HTTP/1.1 extra')],
    ['two spaces', head('CONNECT  h.test:443 HTTP/1.1')],
    ['trailing space', head('CONNECT h.test:443 HTTP/1.1 ')],
    ['tab separator', head('CONNECT\th.test:443 HTTP/1.1')],
    ['missing version', head('CONNECT h.test:443')],
    ['HTTP/2.0', head('CONNECT h.test:443 HTTP/2.0')],
    ['lower-case version', head('CONNECT h.test:443 http/1.1')],
    ['HTTP/1.2', head('CONNECT h.test:443 HTTP/1.2')],
    ['non-ASCII host', Buffer.from('CONNECT b\xfccher.test:443 HTTP/1.1\r\n\r\n', 'latin1')],
    ['header without colon', head('CONNECT h.test:443 HTTP/1.1', 'Host h.test')],
    ['header name with space', head('CONNECT h.test:443 HTTP/1.1', 'X Y: z')],
    ['space before colon', head('CONNECT h.test:443 HTTP/1.1', 'Host : h.test')],
    ['empty header name', head('CONNECT h.test:443 HTTP/1.1', ': v')],
    ['illegal byte in name', head('CONNECT h.test:443 HTTP/1.1', 'X\x01Y: z')],
    ['non-ASCII byte in name', head('CONNECT h.test:443 HTTP/1.1', 'X\xe9: z')],
    ['obs-fold (space)', head('CONNECT h.test:443 HTTP/1.1', 'X: a', ' b')],
    ['obs-fold (tab)', head('CONNECT h.test:443 HTTP/1.1', 'X: a', '\tb')],
    ['NUL in value', head('CONNECT h.test:443 HTTP/1.1', 'X: a\x00b')],
    ['DEL in value', head('CONNECT h.test:443 HTTP/1.1', 'X: a\x7fb')],
    ['empty line inside', Buffer.from('CONNECT h.test:443 HTTP/1.1\r\n\r\nX: y\r\n\r\n')],
    [
      'duplicate Proxy-Authorization',
      head('CONNECT h.test:443 HTTP/1.1', 'Proxy-Authorization: Basic a', 'proxy-authorization: Basic b'),
    ],
    ['CONNECT with Content-Length > 0', head('CONNECT h.test:443 HTTP/1.1', 'Content-Length: 5')],
    [
      'CONNECT with two Content-Length: 0',
      head('CONNECT h.test:443 HTTP/1.1', 'Content-Length: 0', 'content-length: 0'),
    ],
    ['CONNECT with bad Content-Length', head('CONNECT h.test:443 HTTP/1.1', 'Content-Length: -0')],
    ['CONNECT with Transfer-Encoding', head('CONNECT h.test:443 HTTP/1.1', 'Transfer-Encoding: chunked')],
    ['https:// absolute-form', head('GET https://example.com/ HTTP/1.1')],
    ['ftp:// absolute-form', head('GET ftp://example.com/ HTTP/1.1')],
    ['origin-form', head('GET / HTTP/1.1', 'Host: example.com')],
    ['asterisk-form', head('OPTIONS * HTTP/1.1')],
    ['authority-form without CONNECT', head('GET example.com:80 HTTP/1.1')],
    ['http:// with userinfo', head('GET http://u:p@example.com/ HTTP/1.1')],
    ['http:// with empty authority', head('GET http:///x HTTP/1.1')],
    ['http:// with empty port', head('GET http://example.com:/ HTTP/1.1')],
    ['http:// with fragment', head('GET http://example.com/#f HTTP/1.1')],
    [
      'duplicate Proxy-Authorization on forward',
      head('GET http://a.test/ HTTP/1.1', 'Proxy-Authorization: a', 'Proxy-Authorization: b'),
    ],
    ['method not a token', head('G(T http://example.com/ HTTP/1.1')],
    [
      'TLS ClientHello',
      Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a, 0x0d, 0x0a]),
    ],
    ['binary garbage', Buffer.from([0x00, 0xff, 0x10, 0x0d, 0x0a, 0x0d, 0x0a])],
  ];

  it.each(bad)('%s', (_label, input) => {
    const r = parseHead(input);
    expect(r.kind).toBe('error');
    if (r.kind !== 'error') return;
    expect(r.code).toBe('bad_request');
    expect(r.why.length).toBeGreaterThan(0);
  });

  it.each([
    ['obs-fold', head('CONNECT h.test:443 HTTP/1.1', 'X: a', ' b: c'), 'obsolete line folding'],
    [
      'TLS ClientHello',
      Buffer.from([0x16, 0x03, 0x01, 0x0d, 0x0a, 0x0d, 0x0a]),
      'TLS handshake without CONNECT',
    ],
    ['lower-case CONNECT', head('connect h.test:443 HTTP/1.1'), 'method CONNECT must be upper-case'],
    ['https://', head('GET https://example.com/ HTTP/1.1'), 'https:// absolute-form: use CONNECT'],
    ['missing port', head('CONNECT h.test HTTP/1.1'), 'CONNECT target has no port'],
  ])('names the reason for %s', (_label, input, why) => {
    expect(parseHead(input)).toEqual({ kind: 'error', code: 'bad_request', why });
  });

  it('never echoes request bytes in `why`', () => {
    const secret = 'S3cr3tTokenValue';
    const r = parseHead(head(`CONNECT ${secret}:0 HTTP/1.1`, `Proxy-Authorization: Basic ${secret}`));
    expect(r.kind).toBe('error');
    expect(JSON.stringify(r)).not.toContain(secret);
  });
});
