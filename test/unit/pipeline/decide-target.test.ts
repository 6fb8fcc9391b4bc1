import { describe, expect, it } from 'vitest';
import { decideTarget } from '../../../src/pipeline/decide-target.js';
import { hp, indexOf, svc } from './fixtures.js';

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
