/**
 * Wildcard host entries (issue 12 "Wildcard hosts"): what parses, what is refused, and what a wildcard covers.
 */
import { describe, expect, it } from 'vitest';
import {
  EXACT_SPECIFICITY,
  entryMatches,
  type HostEntry,
  parseHostEntry,
  specificity,
  wildcardSuffixKeys,
} from '../../../src/net/host-pattern.js';
import { parseHostPort } from '../../../src/net/host-port.js';
import { buildHostSet, matchHostSet } from '../../../src/net/host-set.js';

function entry(text: string): HostEntry {
  const r = parseHostEntry(text);
  if (!r.ok) throw new Error(`${text}: ${r.reason}`);
  return r.value;
}

function target(text: string) {
  const r = parseHostPort(text, 443);
  if (!r.ok) throw new Error(text);
  return r.value;
}

describe('parseHostEntry: wildcards accepted', () => {
  it.each([
    ['*.example.com', 'example.com', 443, '*.example.com:443', 'example.com:443'],
    ['*.example.com:8443', 'example.com', 8443, '*.example.com:8443', 'example.com:8443'],
    ['*.EXAMPLE.Com.', 'example.com', 443, '*.example.com:443', 'example.com:443'],
    ['*.b.example.com', 'b.example.com', 443, '*.b.example.com:443', 'b.example.com:443'],
    [
      '*.bücher.example',
      'xn--bcher-kva.example',
      443,
      '*.xn--bcher-kva.example:443',
      'xn--bcher-kva.example:443',
    ],
  ])('%s', (input, suffix, port, key, suffixKey) => {
    const r = parseHostEntry(input);
    expect(r).toEqual({ ok: true, value: { kind: 'wildcard', suffix, port, key, suffixKey } });
    if (r.ok) expect(Object.isFrozen(r.value)).toBe(true);
  });

  it('exact entries parse as parseHostPort does', () => {
    expect(parseHostEntry('Api.Example.com:8443')).toEqual(parseHostPort('Api.Example.com:8443'));
    expect(parseHostEntry('[::1]:8443')).toEqual(parseHostPort('[::1]:8443'));
  });
});

describe('parseHostEntry: wildcards refused', () => {
  it.each([
    ['*', /whole first label|two labels/],
    ['*.com', /two labels/],
    ['*.com:443', /two labels/],
    ['*.localhost', /two labels/],
    ['a.*.com', /whole first label/],
    ['a.*.example.com', /whole first label/],
    ['*example.com', /whole first label/],
    ['**.example.com', /whole first label/],
    ['*.*.example.com', /only one leading/],
    ['*.1.2.3.4', /IP literal/],
    ['*.10.0.0.5:8443', /IP literal/],
    ['*.[::1]:443', /IP literal/],
    ['*.2.3.4', /bad name/],
    ['*.example.com:0', /invalid port/],
    ['*.example.com:', /invalid port/],
    ['*.exa mple.com', /bad name/],
    ['*.', /bad name/],
    ['*..com', /bad name/],
    ['u@*.example.com', /whole first label/],
    ['api.example.*', /whole first label/],
  ])('%s', (input, why) => {
    const r = parseHostEntry(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(why);
  });
});

describe('entryMatches', () => {
  it.each([
    ['*.example.com', 'a.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'A.Example.COM.', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'xexample.com', false],
    ['*.example.com', 'a.xexample.com', false],
    ['*.example.com', 'example.com.evil', false],
    ['*.example.com', 'a.example.com:8443', false],
    ['*.example.com:8443', 'a.example.com:8443', true],
    ['*.example.com:8443', 'a.example.com', false],
    ['*.example.com', '10.0.0.5', false],
    ['api.example.com', 'api.example.com', true],
    ['api.example.com', 'api.example.com:8443', false],
    ['api.example.com', 'x.api.example.com', false],
  ])('%s covers %s: %s', (pattern, host, expected) => {
    expect(entryMatches(entry(pattern), target(host))).toBe(expected);
  });
});

describe('wildcardSuffixKeys', () => {
  it('walks the suffixes of a name, longest first, never the name itself nor one label', () => {
    const seen: string[] = [];
    wildcardSuffixKeys(target('a.b.example.com:8443'), (key) => {
      seen.push(key);
      return undefined;
    });
    expect(seen).toEqual(['b.example.com:8443', 'example.com:8443']);
  });

  it('stops at the first hit and returns it', () => {
    const seen: string[] = [];
    const hit = wildcardSuffixKeys(target('a.b.example.com'), (key) => {
      seen.push(key);
      return key === 'b.example.com:443' ? 'found' : undefined;
    });
    expect([hit, seen]).toEqual(['found', ['b.example.com:443']]);
  });

  it.each(['10.0.0.5', '[::1]:443', 'localhost', 'example.com'])('%s has no wildcard keys', (host) => {
    const seen: string[] = [];
    wildcardSuffixKeys(target(host), (key) => {
      seen.push(key);
      return undefined;
    });
    expect(seen).toEqual([]);
  });
});

describe('specificity and host sets', () => {
  it('exact above every wildcard; longer suffix above shorter', () => {
    expect(specificity(entry('a.example.com'))).toBe(EXACT_SPECIFICITY);
    expect(specificity(entry('*.b.example.com'))).toBeGreaterThan(specificity(entry('*.example.com')));
    expect(EXACT_SPECIFICITY).toBeGreaterThan(253);
  });

  const set = buildHostSet(['dl.example.com', '*.example.com', '*.cdn.example.com:8443'].map(entry));
  it.each([
    ['dl.example.com', 'dl.example.com:443'],
    ['www.example.com', '*.example.com:443'],
    ['a.cdn.example.com', '*.example.com:443'],
    ['a.cdn.example.com:8443', '*.cdn.example.com:8443'],
    ['example.com', undefined],
    ['dl.example.com:8443', undefined],
  ])('%s → %s', (host, key) => {
    expect(matchHostSet(set, target(host))?.entry.key).toBe(key);
  });

  it('a plain Set of exact keys is a host set', () => {
    expect(matchHostSet(new Set(['a.test:443']), target('a.test'))?.specificity).toBe(EXACT_SPECIFICITY);
    expect(matchHostSet(new Set(['a.test:443']), target('b.a.test'))).toBeUndefined();
  });
});
