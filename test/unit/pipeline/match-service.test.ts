import { describe, expect, it } from 'vitest';
import {
  hasDotSegment,
  matchService,
  parseRequestTarget,
  pathMatches,
  splitPathQuery,
} from '../../../src/pipeline/match-service.js';
import { hp, indexOf, svc } from './fixtures.js';

describe('splitPathQuery', () => {
  it.each([
    ['/', '/', undefined],
    ['/v1/x', '/v1/x', undefined],
    ['/v1?', '/v1', ''],
    ['/v1?a=1', '/v1', 'a=1'],
    ['/v1?a=1?b=2', '/v1', 'a=1?b=2'],
    ['/v1/x?a=%2F&b', '/v1/x', 'a=%2F&b'],
  ])('%s', (raw, path, query) => {
    expect(splitPathQuery(raw)).toEqual({ path, query });
  });
});

describe('parseRequestTarget', () => {
  it.each([
    ['/', '/', undefined],
    ['/v1/x?a=1', '/v1/x', 'a=1'],
    ['/projects/group%2Fproject', '/projects/group%2Fproject', undefined],
    ['/.well-known/x', '/.well-known/x', undefined],
    ['/a/..b/c.', '/a/..b/c.', undefined],
    ['/a/...', '/a/...', undefined],
    ['/v1/x?path=../../admin', '/v1/x', 'path=../../admin'],
  ])('accepts %s', (raw, path, query) => {
    expect(parseRequestTarget(raw)).toEqual({ ok: true, value: { path, query } });
  });

  it.each([
    [''],
    ['*'],
    ['v1/x'],
    ['https://api.example.com/v1'],
    ['?a=1'],
    [' /v1'],
    ['/v1/x#frag'],
    ['/v1/../admin'],
    ['/v1/./x'],
    ['/v1/..'],
    ['/..'],
    ['/v1/%2e%2e/admin'],
    ['/v1/%2E%2E/admin'],
    ['/v1/.%2e/admin'],
    ['/v1/%252e%252e/admin'],
    ['/v1/%25252e./admin'],
    ['/v1/x%2F..%2Fadmin'],
    ['/v1/x%2f%2e%2e%2fadmin'],
    ['/v1/x\\..\\admin'],
    ['/v1/x%5C..%5Cadmin'],
    ['/v1/..;/admin'],
    ['/v1/..;jsessionid=1/admin'],
  ])('refuses %j as bad_request', (raw) => {
    expect(parseRequestTarget(raw)).toEqual({ ok: false, code: 'bad_request' });
  });

  it.each([
    ['/v1/x', false],
    ['/a.b/c', false],
    ['/a/%2e', true],
    ['/a/.;x', true],
  ])('hasDotSegment(%j) = %s', (path, expected) => {
    expect(hasDotSegment(path)).toBe(expected);
  });
});

describe('pathMatches', () => {
  it.each([
    ['/', '/', true],
    ['/', '/anything/at/all', true],
    ['/v1', '/v1', true],
    ['/v1', '/v1/', true],
    ['/v1', '/v1/x', true],
    ['/v1', '/v10', false],
    ['/v1', '/v1x/y', false],
    ['/v1', '/v', false],
    ['/v1', '/', false],
    ['/v1', '/V1/x', false],
    ['/v1', '/%76%31/x', false],
    ['/v1', '/v1%2Fx', false],
    ['/v1/beta', '/v1/beta/x', true],
    ['/v1/beta', '/v1/betamax', false],
    ['/v1/', '/v1/x', true],
  ])('prefix %s vs %s → %s', (prefix, path, expected) => {
    expect(pathMatches(prefix, path)).toBe(expected);
  });
});

describe('matchService', () => {
  const github = svc('github', ['api.example.com'], '/');
  const v1 = svc('v1', ['multi.example.com'], '/v1');
  const v1a = svc('v1-admin', ['multi.example.com'], '/v1/admin');
  const v2 = svc('v2', ['multi.example.com'], '/v2');
  const other = svc('other', ['other.example.com'], '/');
  const index = indexOf([github, v1, v1a, v2, other]);

  type Case = [string, string, string, string | undefined, boolean, unknown];
  it.each<Case>([
    ['one candidate', 'api.example.com', '/repos/x', undefined, false, { kind: 'service', service: github }],
    [
      'one candidate, passthrough too',
      'api.example.com',
      '/',
      undefined,
      true,
      { kind: 'service', service: github },
    ],
    [
      'prefix /v1 matches /v1',
      'multi.example.com',
      '/v1',
      undefined,
      false,
      { kind: 'service', service: v1 },
    ],
    [
      'prefix /v1 matches /v1/x',
      'multi.example.com',
      '/v1/x',
      undefined,
      false,
      { kind: 'service', service: v1 },
    ],
    ['prefix /v2 not /v20', 'multi.example.com', '/v20', undefined, false, 'no_matching_service'],
    ['zero candidates', 'multi.example.com', '/v3', undefined, false, 'no_matching_service'],
    ['zero candidates on passthrough', 'multi.example.com', '/v3', undefined, true, { kind: 'forward' }],
    ['unknown host', 'nowhere.example.com', '/', undefined, true, { kind: 'forward' }],
    ['unknown host, not passthrough', 'nowhere.example.com', '/', undefined, false, 'no_matching_service'],
    [
      'header picks among many',
      'multi.example.com',
      '/v1/admin/x',
      'v1-admin',
      false,
      { kind: 'service', service: v1a },
    ],
    [
      'header picks the other',
      'multi.example.com',
      '/v1/admin/x',
      'v1',
      false,
      { kind: 'service', service: v1 },
    ],
    [
      'header names a sole candidate',
      'api.example.com',
      '/x',
      'github',
      false,
      { kind: 'service', service: github },
    ],
    ['header names a non-candidate', 'multi.example.com', '/v1/admin', 'v2', false, 'service_not_allowed'],
    [
      'header names another host service',
      'multi.example.com',
      '/v1/admin',
      'other',
      false,
      'service_not_allowed',
    ],
    ['one candidate, header names another', 'api.example.com', '/x', 'other', false, 'service_not_allowed'],
    ['header names unknown service', 'api.example.com', '/x', 'nope', false, 'service_not_allowed'],
    ['header is case-sensitive', 'api.example.com', '/x', 'GitHub', false, 'service_not_allowed'],
    ['empty header', 'api.example.com', '/x', '', false, 'service_not_allowed'],
    ['header, zero candidates, passthrough', 'multi.example.com', '/v3', 'v1', true, 'service_not_allowed'],
    ['header on unknown passthrough host', 'nowhere.example.com', '/', 'github', true, 'service_not_allowed'],
  ])('%s', (_label, host, path, clefService, isPassthrough, expected) => {
    const res = matchService({ index, target: hp(host), path, clefService, isPassthrough });
    if (typeof expected === 'string') {
      expect(res).toEqual({ ok: false, code: expected });
    } else {
      expect(res).toEqual({ ok: true, value: expected });
      if (res.ok && res.value.kind === 'service')
        expect(res.value.service).toBe((expected as { service: unknown }).service);
    }
  });

  it('overlapping prefixes: the longest path_prefix wins (issue 12 precedence)', () => {
    const res = matchService({
      index,
      target: hp('multi.example.com'),
      path: '/v1/admin/users',
      clefService: undefined,
      isPassthrough: true,
    });
    expect(res).toEqual({ ok: true, value: { kind: 'service', service: v1a } });
  });

  it('≥ 2 candidates with the same prefix and no header ⇒ ambiguous_service listing them in order', () => {
    const a = svc('a', ['tie.example.com'], '/v1');
    const b = svc('b', ['tie.example.com'], '/v1/');
    const c = svc('c', ['tie.example.com'], '/');
    const res = matchService({
      index: indexOf([a, c, { ...b, pathPrefix: '/v1' }]),
      target: hp('tie.example.com'),
      path: '/v1/x',
      clefService: undefined,
      isPassthrough: false,
    });
    expect(res).toEqual({ ok: false, code: 'ambiguous_service', extras: { candidates: ['a', 'b'] } });
  });

  it('matches the target port, not only the host', () => {
    const alt = svc('alt', ['ports.example.com:8443']);
    const idx = indexOf([alt]);
    const args = { index: idx, path: '/', clefService: undefined, isPassthrough: false };
    expect(matchService({ ...args, target: hp('ports.example.com:8443') })).toEqual({
      ok: true,
      value: { kind: 'service', service: alt },
    });
    expect(matchService({ ...args, target: hp('ports.example.com') })).toEqual({
      ok: false,
      code: 'no_matching_service',
    });
  });
});

describe('matchService: wildcard precedence (issue 12; docs/configuration.md "Wildcard hosts")', () => {
  const exactV1 = svc('exact-v1', ['api.example.com'], '/v1');
  const wildAll = svc('wild-all', ['*.example.com'], '/');
  const wildAdmin = svc('wild-admin', ['*.example.com'], '/admin');
  const deep = svc('deep', ['*.eu.example.com'], '/');
  const port = svc('port', ['*.example.com:8443'], '/');
  const index = indexOf([wildAll, exactV1, wildAdmin, deep, port]);

  type Row = [string, string, string, string | undefined, boolean, string];
  it.each<Row>([
    ['exact beats wildcard', 'api.example.com', '/v1/x', undefined, false, 'exact-v1'],
    ['exact path misses: the wildcard tier answers', 'api.example.com', '/v2', undefined, false, 'wild-all'],
    ['exact beats a wildcard with a longer prefix', 'api.example.com', '/v1', undefined, false, 'exact-v1'],
    [
      'wildcard: longest prefix within the tier',
      'www.example.com',
      '/admin/x',
      undefined,
      false,
      'wild-admin',
    ],
    ['wildcard covers deeper names', 'a.b.example.com', '/', undefined, false, 'wild-all'],
    ['longer suffix beats shorter', 'x.eu.example.com', '/admin', undefined, false, 'deep'],
    ['the wildcard port is its own', 'a.example.com:8443', '/admin', undefined, false, 'port'],
    ['apex is not covered', 'example.com', '/', undefined, false, 'no_matching_service'],
    ['xexample.com is not covered', 'xexample.com', '/', undefined, false, 'no_matching_service'],
    ['no candidate on passthrough ⇒ forward', 'example.com', '/', undefined, true, 'forward'],
    ['header may name a lower-ranked candidate', 'api.example.com', '/v1', 'wild-all', false, 'wild-all'],
    ['header may name a shorter prefix', 'www.example.com', '/admin', 'wild-all', false, 'wild-all'],
    [
      'header names a wildcard whose path misses',
      'www.example.com',
      '/v1',
      'wild-admin',
      false,
      'service_not_allowed',
    ],
    [
      'header names a service of another tier port',
      'a.example.com',
      '/',
      'port',
      false,
      'service_not_allowed',
    ],
    [
      'header names the apex-less wildcard on the apex',
      'example.com',
      '/',
      'wild-all',
      true,
      'service_not_allowed',
    ],
  ])('%s', (_label, host, path, clefService, isPassthrough, expected) => {
    const res = matchService({ index, target: hp(host), path, clefService, isPassthrough });
    if (expected === 'forward') expect(res).toEqual({ ok: true, value: { kind: 'forward' } });
    else if (res.ok && res.value.kind === 'service') expect(res.value.service.name).toBe(expected);
    else expect(res).toEqual({ ok: false, code: expected });
  });

  it('two wildcards of one suffix with one prefix are ambiguous; the header picks', () => {
    const a = svc('a', ['*.example.com']);
    const b = svc('b', ['*.example.com']);
    const idx = indexOf([a, b]);
    const args = { index: idx, target: hp('x.example.com'), path: '/', isPassthrough: false };
    expect(matchService({ ...args, clefService: undefined })).toEqual({
      ok: false,
      code: 'ambiguous_service',
      extras: { candidates: ['a', 'b'] },
    });
    expect(matchService({ ...args, clefService: 'b' })).toEqual({
      ok: true,
      value: { kind: 'service', service: b },
    });
  });
});
