/**
 * Property-based fuzzing of service matching (SPEC §6 "Per request", §5 `path_prefix`): whatever the services,
 * the target, the path and `X-Clef-Service` say, a service is only ever chosen for a host it names and a path its
 * prefix covers — the rule that keeps a credential on the hosts and paths its service was written for.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseServiceList } from '../../src/agent/services.js';
import type { ServiceIndex } from '../../src/agent/source.js';
import { type HostPort, parseHostPort } from '../../src/net/host-port.js';
import { matchService, parseRequestTarget, pathMatches } from '../../src/pipeline/match-service.js';

const RUNS = 2000;

const HOSTS = [
  'api.example.com',
  'API.example.com:443',
  'api.example.com:8443',
  'other.example.com',
  '10.0.0.5',
  '[::1]:443',
];
const PREFIXES = ['/', '/v1', '/v1/', '/v10', '/v1/admin', '/a/b'];
const NAMES = ['alpha', 'beta', 'gamma', 'delta', 'Alpha2'];

function hostPort(text: string): HostPort {
  const r = parseHostPort(text, 443);
  if (!r.ok) throw new Error(`bad fixture host ${text}`);
  return r.value;
}

/** A valid services list built through the real schema (so indexes are exactly what the proxy would hold). */
const index = fc
  .uniqueArray(
    fc.record({
      name: fc.constantFrom(...NAMES),
      hosts: fc.uniqueArray(fc.constantFrom(...HOSTS), { minLength: 1, maxLength: 3 }),
      path_prefix: fc.constantFrom(...PREFIXES),
    }),
    { selector: (s) => s.name.toLowerCase(), maxLength: 4 },
  )
  .map((services): ServiceIndex => {
    const list = services.map((s) => ({ ...s, auth: { type: 'bearer' as const, secret: `S_${s.name}` } }));
    const parsed = parseServiceList(list, 'fuzz');
    if (!parsed.ok) throw new Error(parsed.issues.join('; '));
    return parsed.index;
  });

const target = fc
  .constantFrom(...HOSTS, 'evil.example.com', 'api.example.com.evil', 'xapi.example.com')
  .map(hostPort);
const path = fc.oneof(
  fc.constantFrom(
    '/',
    '/v1',
    '/v1/',
    '/v1/x',
    '/v10',
    '/v1x',
    '/V1',
    '/v1/admin/x',
    '/a/b/c',
    '/a/bc',
    '/%76%31',
  ),
  fc.stringMatching(/^(\/[a-zA-Z0-9%._-]{0,4}){1,4}$/),
);
const clefService = fc.option(
  fc.oneof(fc.constantFrom(...NAMES, 'ALPHA', ' alpha', 'alpha,beta'), fc.string({ maxLength: 8 })),
  {
    nil: undefined,
  },
);

describe('matchService never returns a service for a host or path it does not name', () => {
  it('whatever the services, target, path, X-Clef-Service and passthrough flag', () => {
    fc.assert(
      fc.property(index, target, path, clefService, fc.boolean(), (idx, t, p, clef, isPassthrough) => {
        const r = matchService({ index: idx, target: t, path: p, clefService: clef, isPassthrough });
        if (!r.ok) {
          expect(['no_matching_service', 'ambiguous_service', 'service_not_allowed']).toContain(r.code);
          return;
        }
        if (r.value.kind === 'forward') {
          // Forwarding without a credential happens only on a passthrough host, and never when a service was asked for.
          expect(isPassthrough).toBe(true);
          expect(clef).toBeUndefined();
          return;
        }
        const service = r.value.service;
        expect(service.hosts.map((h) => h.key)).toContain(t.key);
        expect(pathMatches(service.pathPrefix, p)).toBe(true);
        // The service is one of this revision's, not a copy from elsewhere.
        expect(idx.services).toContain(service);
        if (clef !== undefined) expect(service.name).toBe(clef);
      }),
      { seed: 0x3a7c, numRuns: RUNS },
    );
  });

  it('a host no service names never yields a service, even when X-Clef-Service names one', () => {
    fc.assert(
      fc.property(index, path, fc.constantFrom(...NAMES), fc.boolean(), (idx, p, clef, isPassthrough) => {
        const stranger = hostPort('evil.example.com');
        const r = matchService({ index: idx, target: stranger, path: p, clefService: clef, isPassthrough });
        expect(r).toEqual({ ok: false, code: 'service_not_allowed' });
      }),
      { seed: 0x3a7d, numRuns: RUNS },
    );
  });

  it('prefix matching holds on segment boundaries only', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PREFIXES), path, (prefix, p) => {
        const norm = prefix.replace(/\/+$/, '') || '/';
        const expected = norm === '/' || p === norm || p.startsWith(`${norm}/`);
        expect(pathMatches(norm, p)).toBe(expected);
      }),
      { seed: 0x3a7e, numRuns: RUNS },
    );
  });
});

describe('parseRequestTarget refuses every dot-segment spelling it is given', () => {
  const dot = fc.constantFrom('.', '..', '%2e', '%2E.', '.%2e', '%252e%252e', '..;x', '%2e%2e;');
  const sep = fc.constantFrom('/', '\\', '%2f', '%5C', '%252f');
  it('a dot segment anywhere, between any separators, is bad_request', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^(\/[a-z0-9]{1,3}){0,3}$/),
        sep,
        dot,
        sep,
        fc.stringMatching(/^[a-z0-9]{0,3}$/),
        (a, s1, d, s2, b) => {
          const r = parseRequestTarget(`${a}/x${s1}${d}${s2}${b}`);
          expect(r).toEqual({ ok: false, code: 'bad_request' });
        },
      ),
      { seed: 0xd075, numRuns: RUNS },
    );
  });
});

describe('named edge cases', () => {
  it.each([
    ['prefix /v1 vs /v10', '/v1', '/v10', false],
    ['prefix /v1 vs /v1x', '/v1', '/v1x', false],
    ['prefix /v1 vs /V1 (case-sensitive)', '/v1', '/V1', false],
    ['prefix /v1 vs encoded /%76%31', '/v1', '/%76%31', false],
    ['prefix /v1 vs /v1/', '/v1', '/v1/', true],
  ])('%s', (_label, prefix, p, expected) => {
    expect(pathMatches(prefix, p)).toBe(expected);
  });
});
