import { describe, expect, it } from 'vitest';
import { hostKey, normalizeHost, parseHostPort, parsePort } from '../../../src/net/host-port.js';

describe('parseHostPort: accepted entries', () => {
  // [input, host, port, kind, key]
  it.each([
    ['example.com', 'example.com', 443, 'name', 'example.com:443'],
    ['EXAMPLE.com', 'example.com', 443, 'name', 'example.com:443'],
    ['example.com.', 'example.com', 443, 'name', 'example.com:443'],
    ['Example.COM.:8443', 'example.com', 8443, 'name', 'example.com:8443'],
    ['bücher.example', 'xn--bcher-kva.example', 443, 'name', 'xn--bcher-kva.example:443'],
    ['BÜCHER.example', 'xn--bcher-kva.example', 443, 'name', 'xn--bcher-kva.example:443'],
    ['xn--bcher-kva.example:80', 'xn--bcher-kva.example', 80, 'name', 'xn--bcher-kva.example:80'],
    ['localhost', 'localhost', 443, 'name', 'localhost:443'],
    ['a_b.internal', 'a_b.internal', 443, 'name', 'a_b.internal:443'],
    ['api.upstream.test:1', 'api.upstream.test', 1, 'name', 'api.upstream.test:1'],
    ['host:65535', 'host', 65535, 'name', 'host:65535'],
    ['10.0.0.5', '10.0.0.5', 443, 'ipv4', '10.0.0.5:443'],
    ['10.0.0.5:8443', '10.0.0.5', 8443, 'ipv4', '10.0.0.5:8443'],
    ['127.0.0.1.', '127.0.0.1', 443, 'ipv4', '127.0.0.1:443'],
    ['[::1]', '::1', 443, 'ipv6', '[::1]:443'],
    ['[::1]:8443', '::1', 8443, 'ipv6', '[::1]:8443'],
    ['[0:0:0:0:0:0:0:1]:8443', '::1', 8443, 'ipv6', '[::1]:8443'],
    ['[2001:DB8::A]:443', '2001:db8::a', 443, 'ipv6', '[2001:db8::a]:443'],
    ['[::ffff:127.0.0.1]:1', '::ffff:7f00:1', 1, 'ipv6', '[::ffff:7f00:1]:1'],
  ])('%s → %s port %i (%s)', (input, host, port, kind, key) => {
    const r = parseHostPort(input);
    expect(r).toEqual({ ok: true, value: { host, port, kind, key } });
    if (r.ok) expect(Object.isFrozen(r.value)).toBe(true);
  });

  it('uses the given default port; an explicit port wins over it', () => {
    expect(parseHostPort('example.com', 80)).toMatchObject({ ok: true, value: { port: 80 } });
    expect(parseHostPort('example.com:8443', undefined)).toMatchObject({ ok: true, value: { port: 8443 } });
  });

  // Regression: an explicit `undefined` used to fall back to the default 443, so `CONNECT example.com` without a
  // port was accepted. CONNECT callers now pass `null`.
  it('requires a port when the default is null (CONNECT targets)', () => {
    expect(parseHostPort('example.com', null)).toEqual({ ok: false, reason: 'a port is required' });
    expect(parseHostPort('[::1]', null)).toEqual({ ok: false, reason: 'a port is required' });
  });
});

describe('parseHostPort: rejected entries', () => {
  it.each([
    ['', 'empty host'],
    ['user@example.com', 'userinfo is not allowed in a host'],
    ['user:pass@example.com:443', 'userinfo is not allowed in a host'],
    ['example.com:0', 'invalid port "0" (expected 1-65535)'],
    ['example.com:65536', 'invalid port "65536" (expected 1-65535)'],
    ['example.com:', 'invalid port "" (expected 1-65535)'],
    ['example.com:+443', 'invalid port "+443" (expected 1-65535)'],
    ['example.com:44 3', 'invalid port "44 3" (expected 1-65535)'],
    ['example.com:123456', 'invalid port "123456" (expected 1-65535)'],
    ['::1', 'IPv6 literals must be written in brackets: [v6]:port'],
    ['2001:db8::1:443', 'IPv6 literals must be written in brackets: [v6]:port'],
    ['[::1', 'unclosed [ in IPv6 literal'],
    ['[::1]x', 'unexpected text after ]'],
    ['[::1]:0', 'invalid port "0" (expected 1-65535)'],
    ['[127.0.0.1]:443', 'brackets are only for IPv6 literals'],
    ['[example.com]', 'brackets are only for IPv6 literals'],
    ['exa mple.com', 'invalid host "exa mple.com"'],
    [' example.com', 'invalid host " example.com"'],
    ['example.com ', 'invalid host "example.com "'],
    ['example..com', 'invalid host "example..com"'],
    ['.example.com', 'invalid host ".example.com"'],
    ['example.com..', 'invalid host "example.com.."'],
    ['-example.com', 'invalid host "-example.com"'],
    ['example-.com', 'invalid host "example-.com"'],
    [`${'a'.repeat(64)}.com`, `invalid host "${'a'.repeat(64)}.com"`],
    ['1.2.3', 'invalid host "1.2.3"'],
    ['256.1.1.1', 'invalid host "256.1.1.1"'],
    ['010.0.0.1', 'invalid host "010.0.0.1"'],
    ['.', 'invalid host "."'],
    [':443', 'invalid host ""'],
  ])('%j → %s', (input, reason) => {
    expect(parseHostPort(input)).toEqual({ ok: false, reason });
  });

  // Regression: isIP() accepts a zone id and new URL() then threw; zone ids are now refused as a value.
  it('a bracketed IPv6 zone id is rejected without throwing', () => {
    expect(parseHostPort('[fe80::1%eth0]:443')).toMatchObject({ ok: false });
    expect(parseHostPort('[fe80::1%25eth0]:443')).toMatchObject({ ok: false });
  });
});

describe('parsePort, normalizeHost, hostKey', () => {
  it.each([
    ['1', 1],
    ['443', 443],
    ['65535', 65535],
    ['00443', 443],
    ['0', undefined],
    ['65536', undefined],
    ['-1', undefined],
    ['1e3', undefined],
    ['', undefined],
    [' 80', undefined],
  ])('parsePort(%j) → %s', (text, port) => {
    expect(parsePort(text)).toBe(port);
  });

  it.each([
    ['API.Example.com.', { host: 'api.example.com', kind: 'name' }],
    ['FE80::1', { host: 'fe80::1', kind: 'ipv6' }],
    ['192.0.2.1', { host: '192.0.2.1', kind: 'ipv4' }],
    ['', undefined],
    ['a'.repeat(256), undefined],
  ])('normalizeHost(%j)', (raw, expected) => {
    expect(normalizeHost(raw)).toEqual(expected);
  });

  it.each([
    ['example.com', 443, 'name', 'example.com:443'],
    ['10.0.0.1', 80, 'ipv4', '10.0.0.1:80'],
    ['::1', 8443, 'ipv6', '[::1]:8443'],
  ] as const)('hostKey(%s, %i, %s) → %s', (host, port, kind, key) => {
    expect(hostKey(host, port, kind)).toBe(key);
  });
});
