import { describe, expect, it } from 'vitest';
import { parseNoProxy } from '../../../src/net/no-proxy.js';

// [list, host, port, expected, note]. Hosts are given normalised, as parseHostPort returns them.
// Where curl and Go disagree, the note says which one we follow (docs/configuration.md, "NO_PROXY").
const CASES: ReadonlyArray<readonly [string, string, number, boolean, string]> = [
  ['', 'example.com', 443, false, 'empty list matches nothing'],
  [' , ,, ', 'example.com', 443, false, 'only separators: nothing'],
  ['*', 'example.com', 443, true, '* alone: all'],
  ['*', '10.1.2.3', 8080, true, '* alone: IPs too'],
  ['foo.com,*', 'example.com', 443, true, '* among others: all (Go; curl would treat it as a name)'],
  ['foo.com *', '::1', 443, true, '* after a space separator'],
  ['example.com', 'example.com', 443, true, 'exact name'],
  ['example.com', 'api.example.com', 443, true, 'subdomain of a bare name'],
  ['example.com', 'a.b.example.com', 443, true, 'deep subdomain'],
  ['example.com', 'xexample.com', 443, false, 'no match without a dot boundary'],
  ['example.com', 'example.com.evil.net', 443, false, 'a suffix in the middle is no match'],
  [
    '.example.com',
    'example.com',
    443,
    true,
    'leading dot still matches the name itself (curl; Go would not)',
  ],
  ['.example.com', 'api.example.com', 443, true, 'leading dot: subdomains'],
  ['*.example.com', 'example.com', 443, true, '*.name treated as .name'],
  ['*.example.com', 'api.example.com', 443, true, '*.name: subdomains'],
  ['EXAMPLE.COM', 'api.example.com', 443, true, 'entries are case-insensitive'],
  ['example.com.', 'example.com', 443, true, 'trailing dot on the entry ignored'],
  ['.Example.Com.', 'x.example.com', 443, true, 'leading dot, upper-case and trailing dot together'],
  ['bücher.example', 'xn--bcher-kva.example', 443, true, 'IDN entries compared in punycode'],
  ['example.com:8443', 'example.com', 8443, true, 'name:port on that port'],
  ['example.com:8443', 'example.com', 443, false, 'name:port on another port'],
  ['example.com:8443', 'api.example.com', 8443, true, 'name:port covers subdomains on that port'],
  ['example.com:443,example.com:8443', 'example.com', 8443, true, 'the same name with two ports'],
  ['10.0.0.5', '10.0.0.5', 443, true, 'IPv4 literal matches itself'],
  ['10.0.0.5', '10.0.0.6', 443, false, 'IPv4 literal only itself'],
  ['10.0.0.5:8443', '10.0.0.5', 8443, true, 'IPv4:port on that port'],
  ['10.0.0.5:8443', '10.0.0.5', 443, false, 'IPv4:port not on another'],
  ['10.0.0.0/8', '10.200.3.4', 443, true, 'IPv4 CIDR: inside'],
  ['10.0.0.0/8', '11.0.0.1', 443, false, 'IPv4 CIDR: outside'],
  ['10.1.2.3/8', '10.200.3.4', 443, true, 'CIDR host bits are masked off'],
  ['192.168.1.7/32', '192.168.1.7', 443, true, '/32 is one address'],
  ['192.168.1.7/32', '192.168.1.8', 443, false, '/32 excludes its neighbour'],
  ['0.0.0.0/0', '203.0.113.9', 443, true, '/0 matches every IPv4 address'],
  ['0.0.0.0/0', '2001:db8::1', 443, false, 'an IPv4 /0 does not match IPv6'],
  ['0.0.0.0/0', 'example.com', 443, false, 'a name never matches a CIDR (no DNS)'],
  ['::/0', '203.0.113.9', 443, false, 'an IPv6 /0 does not match IPv4 (Go; Node BlockList would)'],
  ['::/0', '2001:db8::1', 443, true, 'IPv6 /0 matches IPv6'],
  ['::1', '::1', 443, true, 'bare IPv6 literal'],
  ['0:0::1', '::1', 443, true, 'IPv6 compared in canonical form'],
  ['[::1]', '::1', 443, true, 'bracketed IPv6 without port'],
  ['[::1]:8443', '::1', 8443, true, '[v6]:port on that port'],
  ['[::1]:8443', '::1', 443, false, '[v6]:port not on another'],
  ['[2001:DB8::1]', '2001:db8::1', 443, true, 'upper-case IPv6 entry'],
  ['2001:db8::/32', '2001:db8:ffff::1', 443, true, 'IPv6 CIDR: inside'],
  ['2001:db8::/32', '2001:db9::1', 443, false, 'IPv6 CIDR: outside'],
  ['10.0.0.0/8', '::ffff:a00:1', 443, true, 'IPv4-mapped IPv6 host against an IPv4 CIDR'],
  ['localhost', '127.0.0.1', 443, false, 'a name does not match an address (no DNS)'],
  ['example.com', '127.0.0.1', 443, false, 'loopback is not bypassed implicitly'],
  ['internal.corp .svc\t10.0.0.0/8', 'db.svc', 5432, true, 'space and tab separators'],
  ['internal.corp,,.svc', 'api.internal.corp', 443, true, 'empty entries ignored'],
];

describe('parseNoProxy', () => {
  it.each(CASES)('%j matches %s:%i → %s (%s)', (list, host, port, expected) => {
    expect(parseNoProxy(list).matches(host, port)).toBe(expected);
  });

  it.each([
    ['no!t.com', ['no!t.com']],
    ['10.0.0.0/33', ['10.0.0.0/33']],
    ['::/129', ['::/129']],
    ['10.0.0.0/x', ['10.0.0.0/x']],
    ['example.com:0', ['example.com:0']],
    ['example.com:65536', ['example.com:65536']],
    ['example.com:', ['example.com:']],
    ['[::1', ['[::1']],
    ['.10.0.0.1', ['.10.0.0.1']],
    ['.', ['.']],
    ['[fe80::1%eth0]', ['[fe80::1%eth0]']],
    ['good.com bad..com 10.0.0.1', ['bad..com']],
  ])('%j reports invalid entries %j', (list, invalid) => {
    expect(parseNoProxy(list).invalid).toEqual(invalid);
  });

  it('an invalid entry matches nothing and does not disturb the others', () => {
    const m = parseNoProxy('bad..com,good.com');
    expect(m.matches('bad..com', 443)).toBe(false);
    expect(m.matches('good.com', 443)).toBe(true);
  });

  it('returns a frozen matcher', () => {
    const m = parseNoProxy('a.com');
    expect(Object.isFrozen(m)).toBe(true);
    expect(Object.isFrozen(m.invalid)).toBe(true);
  });
});
