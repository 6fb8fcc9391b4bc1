/**
 * Property-based fuzzing of wildcard hosts and their precedence (issue 12): the fast matchers — the suffix walk in
 * `net/host-pattern.ts`, `decideTarget` and `matchService` — agree on every input with slow reference versions that
 * check every entry, and a wildcard never covers its apex, a look-alike name, another port or an IP literal.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseServiceList } from '../../src/agent/services.js';
import type { Service, ServiceIndex } from '../../src/agent/source.js';
import { entryMatches, type HostEntry, parseHostEntry, specificity } from '../../src/net/host-pattern.js';
import { type HostPort, parseHostPort } from '../../src/net/host-port.js';
import { buildHostSet, matchHostSet } from '../../src/net/host-set.js';
import { decideTarget } from '../../src/pipeline/decide-target.js';
import { explainMatch, explainTarget } from '../../src/pipeline/match-explain.js';
import { matchService, pathMatches } from '../../src/pipeline/match-service.js';

const RUNS = 3000;
const LABELS = ['a', 'b', 'c', 'x', 'example', 'xexample', 'com', 'api'];
const PORTS = [443, 8443];

const ENTRIES = [
  '*.example.com',
  '*.a.example.com',
  '*.b.a.example.com',
  '*.example.com:8443',
  '*.xexample.com',
  'a.example.com',
  'b.a.example.com',
  'example.com',
  'a.example.com:8443',
  '10.0.0.5',
];
const PREFIXES = ['/', '/v1', '/v1/admin', '/a'];
const NAMES = ['s1', 's2', 's3', 's4', 's5'];

function host(text: string): HostPort {
  const r = parseHostPort(text, 443);
  if (!r.ok) throw new Error(text);
  return r.value;
}

function entry(text: string): HostEntry {
  const r = parseHostEntry(text);
  if (!r.ok) throw new Error(text);
  return r.value;
}

/** Any name of 1–5 labels from a small alphabet (so collisions with the entries are frequent), on 443 or 8443. */
const target = fc.oneof(
  fc
    .tuple(fc.array(fc.constantFrom(...LABELS), { minLength: 1, maxLength: 5 }), fc.constantFrom(...PORTS))
    .filter(([labels]) => !/^[0-9]+$/.test(labels[labels.length - 1] ?? ''))
    .map(([labels, port]) => host(`${labels.join('.')}:${port}`)),
  fc.constantFrom('10.0.0.5', '[::1]:443', 'example.com', 'a.example.com').map(host),
);

/** Reference: does the wildcard `*.suffix:port` cover `t`? Label by label, no string tricks. */
function refCovers(e: HostEntry, t: HostPort): boolean {
  if (e.kind !== 'wildcard') return e.key === t.key;
  if (t.kind !== 'name' || t.port !== e.port) return false;
  const name = t.host.split('.');
  const suffix = e.suffix.split('.');
  if (name.length <= suffix.length) return false;
  return suffix.every((label, i) => name[name.length - suffix.length + i] === label);
}

function refRank(s: Service, t: HostPort): number {
  let best = -1;
  for (const e of s.hosts) if (refCovers(e, t)) best = Math.max(best, specificity(e));
  return best;
}

/** Reference matchService: filter every service, then apply the documented precedence by sorting. */
function refMatch(index: ServiceIndex, t: HostPort, p: string, clef: string | undefined, pass: boolean) {
  const cands = index.services.filter((s) => refRank(s, t) >= 0 && pathMatches(s.pathPrefix, p));
  if (clef !== undefined) {
    const named = cands.find((s) => s.name === clef);
    return named
      ? { ok: true, value: { kind: 'service', service: named } }
      : { ok: false, code: 'service_not_allowed' };
  }
  if (cands.length === 0)
    return pass ? { ok: true, value: { kind: 'forward' } } : { ok: false, code: 'no_matching_service' };
  const top = Math.max(...cands.map((s) => refRank(s, t)));
  const tier = cands.filter((s) => refRank(s, t) === top);
  const longest = Math.max(...tier.map((s) => s.pathPrefix.length));
  const tied = tier.filter((s) => s.pathPrefix.length === longest);
  if (tied.length === 1) return { ok: true, value: { kind: 'service', service: tied[0] } };
  return { ok: false, code: 'ambiguous_service', extras: { candidates: tied.map((s) => s.name) } };
}

const index = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom(...NAMES),
      hosts: fc.uniqueArray(fc.constantFrom(...ENTRIES), { minLength: 1, maxLength: 3 }),
      path_prefix: fc.constantFrom(...PREFIXES),
    }),
    { selector: (s) => s.name, maxLength: 5 },
  )
  .map((services): ServiceIndex => {
    const list = services.map((s) => ({ ...s, auth: { type: 'bearer' as const, secret: `K_${s.name}` } }));
    const parsed = parseServiceList(list, 'fuzz');
    if (!parsed.ok) throw new Error(parsed.issues.join('; '));
    return parsed.index;
  });
const passthrough = fc
  .uniqueArray(fc.constantFrom(...ENTRIES), { maxLength: 3 })
  .map((l) => buildHostSet(l.map(entry)));
const path = fc.constantFrom('/', '/v1', '/v1/admin/x', '/a/b', '/v10', '/b');
const clef = fc.option(fc.constantFrom(...NAMES, 'nope'), { nil: undefined });

describe('wildcard matching agrees with a label-by-label reference', () => {
  it('entryMatches', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ENTRIES).map(entry), target, (e, t) => {
        expect(entryMatches(e, t)).toBe(refCovers(e, t));
      }),
      { seed: 0x31d, numRuns: RUNS },
    );
  });

  it('matchHostSet finds the most specific covering entry by walking suffixes', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom(...ENTRIES), { maxLength: 6 }), target, (list, t) => {
        const entries = list.map(entry);
        const covering = entries.filter((e) => refCovers(e, t));
        const best = Math.max(-1, ...covering.map(specificity));
        expect(matchHostSet(buildHostSet(entries), t)?.specificity ?? -1).toBe(best);
      }),
      { seed: 0x31e, numRuns: RUNS },
    );
  });

  it('a wildcard never covers its apex, a look-alike, another port or an IP literal', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...LABELS), { minLength: 2, maxLength: 3 }), (labels) => {
        const suffix = labels.join('.');
        if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return;
        const w = entry(`*.${suffix}`);
        expect(entryMatches(w, host(suffix))).toBe(false);
        expect(entryMatches(w, host(`x${suffix}`))).toBe(false);
        expect(entryMatches(w, host(`a.${suffix}:8443`))).toBe(false);
        expect(entryMatches(w, host(`a.${suffix}`))).toBe(true);
        expect(entryMatches(w, host('10.0.0.5'))).toBe(false);
      }),
      { seed: 0x31f, numRuns: RUNS },
    );
  });
});

describe('precedence: the fast matchers equal the reference', () => {
  it('matchService, and explainMatch reports the same result', () => {
    fc.assert(
      fc.property(index, target, path, clef, fc.boolean(), (idx, t, p, c, pass) => {
        const args = { index: idx, target: t, path: p, clefService: c, isPassthrough: pass };
        const got = matchService(args);
        expect(got).toEqual(refMatch(idx, t, p, c, pass));
        const why = explainMatch(args);
        expect(why.result).toEqual(got);
        const chosen = why.candidates.filter((v) => v.outcome === 'chosen');
        if (got.ok && got.value.kind === 'service')
          expect(chosen.map((v) => v.service)).toEqual([got.value.service]);
        else expect(chosen).toEqual([]);
      }),
      { seed: 0x320, numRuns: RUNS },
    );
  });

  it('decideTarget: the most specific entry wins, a service wins a tie', () => {
    fc.assert(
      fc.property(index, passthrough, target, (idx, set, t) => {
        const service = Math.max(-1, ...idx.services.map((s) => refRank(s, t)));
        const pass = matchHostSet(set, t)?.specificity ?? -1;
        const expected =
          service < 0 && pass < 0
            ? { ok: false, code: 'host_not_allowed' }
            : service >= pass
              ? 'intercept'
              : 'tunnel';
        expect(decideTarget(t, idx, set)).toEqual(expected);
        expect(explainTarget(t, idx, set).decision).toEqual(expected);
      }),
      { seed: 0x321, numRuns: RUNS },
    );
  });
});
