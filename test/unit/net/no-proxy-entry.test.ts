/**
 * `matchingEntry()` (for `clef-proxy explain`): the NO_PROXY entry, as written, that decides a bypass — the first
 * entry in list order that matches — and undefined exactly when `matches()` is false.
 */
import { describe, expect, it } from 'vitest';
import { parseNoProxy } from '../../../src/net/no-proxy.js';

describe('matchingEntry', () => {
  const list = 'internal.corp, .svc  10.0.0.0/8,[::1]:8443,Example.COM:8443, bad..entry';
  const m = parseNoProxy(list);

  it.each<[string, number, string | undefined]>([
    ['internal.corp', 443, 'internal.corp'],
    ['a.internal.corp', 443, 'internal.corp'],
    ['x.svc', 80, '.svc'],
    ['10.1.2.3', 443, '10.0.0.0/8'],
    ['::1', 8443, '[::1]:8443'],
    ['::1', 443, undefined],
    ['example.com', 8443, 'Example.COM:8443'],
    ['example.com', 443, undefined],
    ['xinternal.corp', 443, undefined],
    ['elsewhere.test', 443, undefined],
  ])('%s:%i → %s', (host, port, entry) => {
    expect(m.matchingEntry(host, port)).toBe(entry);
    expect(m.matches(host, port)).toBe(entry !== undefined);
  });

  it('`*` anywhere decides for every host', () => {
    const all = parseNoProxy('a.test,*');
    expect(all.matchingEntry('a.test', 443)).toBe('a.test');
    expect(all.matchingEntry('b.test', 443)).toBe('*');
  });

  it('an empty list decides nothing', () => {
    expect(parseNoProxy('').matchingEntry('a.test', 443)).toBeUndefined();
  });
});
