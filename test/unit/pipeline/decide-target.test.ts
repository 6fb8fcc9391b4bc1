import { describe, expect, it } from 'vitest';
import { buildHostSet } from '../../../src/net/host-set.js';
import { decideTarget } from '../../../src/pipeline/decide-target.js';
import { explainTarget } from '../../../src/pipeline/match-explain.js';
import { he, hp, indexOf, svc } from './fixtures.js';

const index = indexOf([
  svc('github', ['api.github.com']),
  svc('both', ['shared.example.com', '10.0.0.5:8443']),
  svc('v6', ['[::1]:8443']),
]);
const passthrough: ReadonlySet<string> = new Set(
  ['registry.npmjs.org', 'shared.example.com', '10.0.0.5:8443', 'api.github.com:8443'].map((h) => hp(h).key),
);

describe('decideTarget', () => {
  it.each([
    ['service host only', 'api.github.com:443', 'intercept'],
    ['service host that is also passthrough wins', 'shared.example.com:443', 'intercept'],
    ['service IPv4 host:port also passthrough', '10.0.0.5:8443', 'intercept'],
    ['service IPv6 host', '[::1]:8443', 'intercept'],
    ['passthrough only', 'registry.npmjs.org:443', 'tunnel'],
    ['service host on another port that is passthrough', 'api.github.com:8443', 'tunnel'],
    ['neither', 'evil.example.com:443', { ok: false, code: 'host_not_allowed' }],
    ['service host on an unlisted port', 'api.github.com:444', { ok: false, code: 'host_not_allowed' }],
    ['IPv6 on another port', '[::1]:443', { ok: false, code: 'host_not_allowed' }],
  ])('%s: %s', (_label, target, expected) => {
    expect(decideTarget(hp(target), index, passthrough)).toEqual(expected);
  });

  it('does not intercept a host whose service list is empty', () => {
    const empty = { revision: 'r', services: [], byHost: new Map([[hp('a.example.com').key, []]]) };
    expect(decideTarget(hp('a.example.com'), empty, new Set())).toEqual({
      ok: false,
      code: 'host_not_allowed',
    });
    expect(decideTarget(hp('a.example.com'), empty, new Set([hp('a.example.com').key]))).toBe('tunnel');
  });
});

/**
 * Every row of the precedence table in docs/configuration.md "Wildcard hosts": the most specific entry across
 * services and passthrough wins; a service wins a tie.
 */
describe('decideTarget: wildcard precedence across services and passthrough', () => {
  type Row = [string, string[], string[], string, 'intercept' | 'tunnel' | 'deny', string];
  it.each<Row>([
    ['wildcard service', ['*.example.com'], [], 'api.example.com', 'intercept', 'service_host'],
    ['deeper name', ['*.example.com'], [], 'a.b.example.com', 'intercept', 'service_host'],
    ['apex not covered', ['*.example.com'], [], 'example.com', 'deny', 'not_listed'],
    ['look-alike not covered', ['*.example.com'], [], 'xexample.com', 'deny', 'not_listed'],
    ['other port not covered', ['*.example.com'], [], 'api.example.com:8443', 'deny', 'not_listed'],
    ['wildcard with a port', ['*.example.com:8443'], [], 'api.example.com:8443', 'intercept', 'service_host'],
    [
      'exact passthrough beats wildcard service',
      ['*.example.com'],
      ['dl.example.com'],
      'dl.example.com',
      'tunnel',
      'more_specific_passthrough',
    ],
    [
      'the rest of the wildcard is still intercepted',
      ['*.example.com'],
      ['dl.example.com'],
      'api.example.com',
      'intercept',
      'service_host',
    ],
    [
      'exact service beats wildcard passthrough',
      ['api.example.com'],
      ['*.example.com'],
      'api.example.com',
      'intercept',
      'service_host',
    ],
    [
      'wildcard passthrough covers the rest',
      ['api.example.com'],
      ['*.example.com'],
      'www.example.com',
      'tunnel',
      'passthrough_host',
    ],
    [
      'same wildcard in both: the service wins',
      ['*.example.com'],
      ['*.example.com'],
      'a.example.com',
      'intercept',
      'service_wins_tie',
    ],
    [
      'same exact host in both: the service wins',
      ['a.example.com'],
      ['a.example.com'],
      'a.example.com',
      'intercept',
      'service_wins_tie',
    ],
    [
      'longer passthrough suffix wins',
      ['*.example.com'],
      ['*.cdn.example.com'],
      'x.cdn.example.com',
      'tunnel',
      'more_specific_passthrough',
    ],
    [
      'longer service suffix wins',
      ['*.cdn.example.com'],
      ['*.example.com'],
      'x.cdn.example.com',
      'intercept',
      'service_host',
    ],
    ['wildcard passthrough never covers an IP', [], ['*.example.com'], '10.0.0.5', 'deny', 'not_listed'],
  ])('%s: services %j, passthrough %j, CONNECT %s ⇒ %s', (_l, hosts, pass, target, expected, reason) => {
    const index = indexOf(hosts.length > 0 ? [svc('s', hosts)] : []);
    const set = buildHostSet(pass.map(he));
    const decision = decideTarget(hp(target), index, set);
    expect(decision).toEqual(expected === 'deny' ? { ok: false, code: 'host_not_allowed' } : expected);
    const why = explainTarget(hp(target), index, set);
    expect(why.decision).toEqual(decision);
    expect(why.reason).toBe(reason);
  });
});
