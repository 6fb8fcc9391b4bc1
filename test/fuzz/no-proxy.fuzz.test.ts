/**
 * Property-based fuzzing of the `NO_PROXY` matcher (SPEC §7). The list comes from the environment or the config, so
 * `parseNoProxy` must never throw on any text, and the matcher must never throw on any host/port the hot path hands
 * it. The semantic properties: `*` anywhere matches everything, and every valid entry matches the host it names.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIpv6, normalizeHost } from '../../src/net/host-port.js';
import { parseNoProxy } from '../../src/net/no-proxy.js';

const RUNS = 2000;

const TRICKY = [...'*.,: \t\n/[]%@0123456789abcdefABCDEF:-_', 'é', '。', '\0', '\ud800'];
const listText = fc.oneof(
  fc.string({ unit: fc.constantFrom(...TRICKY), maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc
    .array(
      fc.oneof(
        fc.domain(),
        fc.ipV4(),
        fc.ipV6(),
        fc.ipV6().map((a) => `[${a}]:80`),
      ),
      { maxLength: 5 },
    )
    .map((xs) => xs.join(',')),
);
const anyHost = fc.oneof(fc.string({ maxLength: 30 }), fc.domain(), fc.ipV4(), fc.ipV6());
const anyPort = fc.oneof(
  fc.integer({ min: 1, max: 65535 }),
  fc.integer(),
  fc.constantFrom(Number.NaN, -1, 0),
);

describe('parseNoProxy never throws', () => {
  it('on arbitrary text, and reports only tokens of the input as invalid', () => {
    fc.assert(
      fc.property(listText, (text) => {
        const m = parseNoProxy(text);
        const tokens = new Set(text.split(/[\s,]+/));
        for (const bad of m.invalid) expect(tokens.has(bad)).toBe(true);
      }),
      { seed: 0x0f0c, numRuns: RUNS },
    );
  });

  it('matches() never throws on any host and port, and answers a boolean', () => {
    fc.assert(
      fc.property(listText, anyHost, anyPort, (text, host, port) => {
        expect(typeof parseNoProxy(text).matches(host, port)).toBe('boolean');
      }),
      { seed: 0x7a7c, numRuns: RUNS },
    );
  });
});

describe('`*` matches all', () => {
  it('wherever it stands in the list, whatever else the list holds', () => {
    fc.assert(
      fc.property(listText, listText, anyHost, anyPort, (before, after, host, port) => {
        expect(parseNoProxy(`${before},*,${after}`).matches(host, port)).toBe(true);
      }),
      { seed: 0x57a2, numRuns: RUNS },
    );
  });
});

/** A generated valid entry and the (normalised) host and port it must match. */
interface EntryCase {
  readonly entry: string;
  readonly host: string;
  readonly port: number;
}

const port = fc.integer({ min: 1, max: 65535 });

const nameEntry = fc
  .tuple(fc.mixedCase(fc.domain()), fc.constantFrom('', '.', '*.'), fc.boolean(), fc.option(port), port)
  .map(([name, lead, dot, p, other]): EntryCase | undefined => {
    const norm = normalizeHost(name.toLowerCase());
    if (norm?.kind !== 'name') return undefined;
    const entry = `${lead}${name}${dot ? '.' : ''}${p === null ? '' : `:${p}`}`;
    return { entry, host: norm.host, port: p ?? other };
  });

const ipv4Entry = fc.tuple(fc.ipV4(), fc.option(port), port).map(
  ([ip, p, other]): EntryCase => ({
    entry: p === null ? ip : `${ip}:${p}`,
    host: ip,
    port: p ?? other,
  }),
);

const ipv6Entry = fc.tuple(fc.ipV6(), fc.option(port), port).map(([ip, p, other]): EntryCase | undefined => {
  const host = canonicalIpv6(ip);
  if (host === undefined) return undefined;
  return { entry: p === null ? ip : `[${ip}]:${p}`, host, port: p ?? other };
});

const cidrEntry = fc
  .tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 }), port)
  .map(([ip, len, p]): EntryCase => ({ entry: `${ip}/${len}`, host: ip, port: p }));

const entryCase = fc.oneof(nameEntry, ipv4Entry, ipv6Entry, cidrEntry);

describe('an entry always matches itself', () => {
  it('alone, or among other entries of any kind', () => {
    fc.assert(
      fc.property(entryCase, listText, fc.boolean(), (c, others, first) => {
        fc.pre(c !== undefined);
        if (c === undefined) return;
        const alone = parseNoProxy(c.entry);
        expect(alone.invalid).toEqual([]);
        expect(alone.matches(c.host, c.port)).toBe(true);
        const list = first ? `${c.entry}, ${others}` : `${others} ${c.entry}`;
        expect(parseNoProxy(list).matches(c.host, c.port)).toBe(true);
      }),
      { seed: 0x5e1f, numRuns: RUNS },
    );
  });

  it('a name entry also matches every subdomain, and never a name that merely ends in the same text', () => {
    fc.assert(
      fc.property(nameEntry, fc.domain(), (c, prefix) => {
        fc.pre(c !== undefined);
        if (c === undefined) return;
        const m = parseNoProxy(c.entry);
        const label = normalizeHost(prefix)?.host.split('.')[0];
        fc.pre(label !== undefined);
        expect(m.matches(`${label}.${c.host}`, c.port)).toBe(true);
        // `xname` must not match `name` (suffix on a dot boundary only).
        if (!c.host.startsWith(label ?? '')) expect(m.matches(`${label}${c.host}`, c.port)).toBe(false);
      }),
      { seed: 0xb0d4, numRuns: RUNS },
    );
  });
});

describe('named edge cases', () => {
  it.each([
    ['bracketed zone id', '[fe80::1%eth0]:80', 'fe80::1', 80, false],
    ['IPv4 entry vs IPv4-mapped IPv6 host', '10.0.0.1', '::ffff:10.0.0.1', 443, true],
    ['::/0 does not swallow IPv4', '::/0', '10.0.0.1', 443, false],
    ['loopback is not bypassed implicitly', 'example.com', '127.0.0.1', 443, false],
    ['a port entry only matches that port', 'example.com:8443', 'example.com', 443, false],
    ['dotted IPv4 is no suffix', '.10.0.0.1', '10.0.0.1', 443, false],
  ])('%s: %j vs %s:%d', (_label, list, host, p, expected) => {
    expect(parseNoProxy(list).matches(host, p)).toBe(expected);
  });

  // Regression: on Node 20.20 `isIP('fe80::%eth0')` is 6 and BlockList accepted the CIDR, silently dropping the
  // zone (the entry became `fe80::/64`). A `%` in a CIDR address is now refused like the bare zone-id entry.
  it('CIDR with a zone id is invalid and matches nothing, like the bare zone-id entry', () => {
    const m = parseNoProxy('fe80::%eth0/64');
    expect(m.invalid).toEqual(['fe80::%eth0/64']);
    expect(m.matches('fe80::1', 443)).toBe(false);
  });
});
