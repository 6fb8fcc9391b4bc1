/**
 * The destination guard's classifier (issue 13): a table over every form the guard must see through, then fuzzed —
 * any IPv4 address embedded in any IPv6 form classifies exactly as the IPv4 address does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createEgressPolicy } from '../../../src/net/egress-policy.js';
import { formatIpv4, parseCidr, parseIpv6 } from '../../../src/net/ip-bytes.js';
import { type AddressClass, classifyAddress } from '../../../src/net/ip-class.js';

describe('classifyAddress: the table', () => {
  it.each<[string, AddressClass, string?]>([
    // IPv4
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['169.254.169.254', 'link_local'],
    ['169.254.0.1', 'link_local'],
    ['169.255.0.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['172.15.255.255', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    // IPv6, native
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link_local'],
    ['febf:ffff::1', 'link_local'],
    ['fd00:ec2::254', 'metadata'],
    ['fd00:ec2:0:0:0:0:0:254', 'metadata'],
    ['fd00:ec2::253', 'ula'],
    ['fc00::1', 'ula'],
    ['fdff::1', 'ula'],
    ['fec0::1', 'ula'],
    ['ff02::1', 'multicast'],
    ['ff0e::fb', 'multicast'],
    ['2001:4860:4860::8888', 'public'],
    ['2606:4700::1111', 'public'],
    ['64:ff9b:1::a9fe:a9fe', 'private'],
    // IPv4-mapped, dotted and hex
    ['::ffff:169.254.169.254', 'link_local', '169.254.169.254'],
    ['::ffff:a9fe:a9fe', 'link_local', '169.254.169.254'],
    ['::FFFF:A9FE:A9FE', 'link_local', '169.254.169.254'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'link_local', '169.254.169.254'],
    ['::ffff:127.0.0.1', 'loopback', '127.0.0.1'],
    ['::ffff:7f00:1', 'loopback', '127.0.0.1'],
    ['::ffff:10.1.2.3', 'private', '10.1.2.3'],
    ['::ffff:0.0.0.0', 'unspecified', '0.0.0.0'],
    ['::ffff:8.8.8.8', 'public', '8.8.8.8'],
    // IPv4-translated (SIIT) and IPv4-compatible
    ['::ffff:0:a9fe:a9fe', 'link_local', '169.254.169.254'],
    ['::169.254.169.254', 'link_local', '169.254.169.254'],
    ['::a9fe:a9fe', 'link_local', '169.254.169.254'],
    ['::7f00:1', 'loopback', '127.0.0.1'],
    // NAT64
    ['64:ff9b::169.254.169.254', 'link_local', '169.254.169.254'],
    ['64:ff9b::a9fe:a9fe', 'link_local', '169.254.169.254'],
    ['64:ff9b::e000:1', 'multicast', '224.0.0.1'],
    ['64:ff9b::ffff:ffff', 'broadcast', '255.255.255.255'],
    ['64:ff9b::808:808', 'public', '8.8.8.8'],
    ['64:ff9b::a00:1', 'private', '10.0.0.1'],
    // 6to4: 2002:AABB:CCDD::/48
    ['2002:a9fe:a9fe::1', 'link_local', '169.254.169.254'],
    ['2002:7f00:1::', 'loopback', '127.0.0.1'],
    ['2002:c0a8:101::1', 'private', '192.168.1.1'],
    ['2002:808:808::1', 'public', '8.8.8.8'],
    // Teredo: 2001:0:SERVER:FLAGS:PORT:~CLIENT
    ['2001:0:4136:e378:8000:63bf:5601:5601', 'link_local', '169.254.169.254'],
    ['2001::f7f7:f7f7', 'public', '8.8.8.8'],
    ['2001::ffff:f7f7', 'unspecified', '0.0.8.8'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback', '127.0.0.1'],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'private', '10.0.0.1'],
    // Not addresses: fail closed
    ['fe80::1%eth0', 'invalid'],
    ['example.com', 'invalid'],
    ['', 'invalid'],
    ['1.2.3', 'invalid'],
  ])('%s → %s', (address, cls, embedded) => {
    const c = classifyAddress(address);
    expect(c.class).toBe(cls);
    expect(c.embedded).toBe(embedded);
  });

  it('the tiers: forbidden whatever the config, private only when allowed', () => {
    const tiers = Object.fromEntries(
      [
        '169.254.1.1',
        'fd00:ec2::254',
        '::',
        '224.0.0.1',
        '255.255.255.255',
        '10.0.0.1',
        '::1',
        '1.1.1.1',
      ].map((a) => [a, classifyAddress(a).tier]),
    );
    expect(tiers).toEqual({
      '169.254.1.1': 'forbidden',
      'fd00:ec2::254': 'forbidden',
      '::': 'forbidden',
      '224.0.0.1': 'forbidden',
      '255.255.255.255': 'forbidden',
      '10.0.0.1': 'private',
      '::1': 'private',
      '1.1.1.1': 'public',
    });
  });
});

describe('createEgressPolicy', () => {
  const policy = createEgressPolicy(['10.0.0.0/8', '127.0.0.0/8', 'fd12::/16']);
  it.each<[string, boolean, boolean]>([
    ['10.1.2.3', false, true],
    ['::ffff:10.1.2.3', false, true],
    ['64:ff9b::a01:203', false, true],
    ['192.168.0.1', false, false],
    ['192.168.0.1', true, true],
    ['127.0.0.1', false, true],
    ['::1', false, false],
    ['fd12::5', false, true],
    ['fd13::5', false, false],
    ['169.254.169.254', true, false],
    ['::ffff:169.254.169.254', true, false],
    ['fd00:ec2::254', true, false],
    ['8.8.8.8', false, true],
  ])('%s (literal target: %s) → allowed %s', (address, literal, allowed) => {
    expect(policy.check(address, literal).allowed).toBe(allowed);
  });

  it('a range over everything allows every private class, never a forbidden one', () => {
    const all = createEgressPolicy(['0.0.0.0/0', '::/0']);
    expect(all.check('192.168.0.1', false).allowed).toBe(true);
    expect(all.check('fc00::1', false).allowed).toBe(true);
    expect(all.check('169.254.169.254', false).allowed).toBe(false);
    expect(all.check('fe80::1', false).allowed).toBe(false);
  });

  it('refuses a bad CIDR with a TypeError (the library API)', () => {
    expect(() => createEgressPolicy(['10.0.0.0/8', '10.0.0.1/8'])).toThrow(TypeError);
    expect(() => createEgressPolicy(['nope'])).toThrow(/egress\.allow_private: invalid CIDR "nope"/);
  });
});

describe('parseCidr and parseIpv6', () => {
  it.each([
    ['10.0.0.0/8', 8],
    ['127.0.0.1', 32],
    ['::1', 128],
    ['fd00::/8', 8],
    ['0.0.0.0/0', 0],
  ])('%s → prefix %i', (text, prefix) => {
    expect(parseCidr(text)?.prefix).toBe(prefix);
  });
  it.each(['10.0.0.1/8', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', '::/129', 'x/8', '', '/8'])(
    '%j is not a CIDR',
    (text) => {
      expect(parseCidr(text)).toBeUndefined();
    },
  );
  it('parses every form Node accepts to the same bytes as the canonical text', () => {
    fc.assert(
      fc.property(fc.ipV6(), (addr) => {
        const bytes = parseIpv6(addr);
        expect(bytes).toBeDefined();
        const canonical = new URL(`http://[${addr}]/`).hostname.slice(1, -1);
        expect(parseIpv6(canonical)).toEqual(bytes);
      }),
      { numRuns: 2000 },
    );
  });
});

/** IPv6 text for `v4` embedded in each form, in hex (and dotted where the form allows it). */
function hex(v4: readonly number[], from = 0): string {
  const g = (i: number) => (((v4[i]! ^ from) << 8) | (v4[i + 1]! ^ from)).toString(16);
  return `${g(0)}:${g(2)}`;
}
const FORMS: ReadonlyArray<readonly [string, (v4: number[]) => string]> = [
  ['mapped dotted', (v) => `::ffff:${v.join('.')}`],
  ['mapped hex', (v) => `::ffff:${hex(v)}`],
  ['mapped full', (v) => `0:0:0:0:0:ffff:${hex(v)}`],
  ['translated', (v) => `::ffff:0:${hex(v)}`],
  ['nat64 dotted', (v) => `64:ff9b::${v.join('.')}`],
  ['nat64 hex', (v) => `64:ff9b::${hex(v)}`],
  ['6to4', (v) => `2002:${hex(v)}::1`],
  ['6to4 subnet', (v) => `2002:${hex(v)}:beef:1:2:3:4`],
  ['teredo', (v) => `2001:0:4136:e378:8000:63bf:${hex(v, 0xff)}`],
];

describe('classifyAddress: fuzzed', () => {
  const v4 = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
  // Skewed towards the interesting ranges, so every class is hit in each run.
  const interesting = fc.oneof(
    v4,
    fc
      .tuple(fc.constantFrom(0, 10, 100, 127, 169, 172, 192, 224, 239, 240, 255), v4)
      .map(([a, r]) => [a, ...r.slice(1)]),
    fc.constantFrom<number[]>([169, 254, 169, 254], [255, 255, 255, 255], [0, 0, 0, 0], [127, 0, 0, 1]),
  );

  it.each(FORMS)('an IPv4 address embedded as %s classifies as the IPv4 address does', (_name, form) => {
    fc.assert(
      fc.property(interesting, (bytes) => {
        const direct = classifyAddress(bytes.join('.'));
        const embedded = classifyAddress(form(bytes));
        expect(embedded.class).toBe(direct.class);
        expect(embedded.embedded).toBe(formatIpv4(Uint8Array.from(bytes)));
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws, and anything that is not an address is forbidden', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 45 }), fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), (text) => {
        const c = classifyAddress(text);
        expect(['forbidden', 'private', 'public']).toContain(c.tier);
        if (c.class === 'invalid') expect(c.tier).toBe('forbidden');
      }),
      { numRuns: 3000 },
    );
  });
});
