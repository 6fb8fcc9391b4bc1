/**
 * The identity check (issue 12): a service's `identities` list of names and `*` globs, applied after the match.
 * Table-driven, plus a randomised cross-check of the glob matcher against a RegExp built the obvious way.
 */
import { describe, expect, it } from 'vitest';
import { checkIdentity, globMatch, identityAllowed } from '../../../src/pipeline/check-identity.js';
import { svc } from './fixtures.js';

describe('globMatch', () => {
  it.each<[string, string, boolean]>([
    ['ci-bot', 'ci-bot', true],
    ['ci-bot', 'ci-bot2', false],
    ['ci-bot', 'CI-BOT', false],
    ['agent-*', 'agent-7', true],
    ['agent-*', 'agent-', true],
    ['agent-*', 'agent', false],
    ['agent-*', 'xagent-7', false],
    ['*', 'anything', true],
    ['*-bot', 'ci-bot', true],
    ['*-bot', 'ci-bots', false],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXbYY', false],
    ['a**b', 'ab', true],
    ['*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false],
    ['.+', '.+', true],
    ['.+', 'aa', false],
  ])('%j vs %j → %s', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  it('agrees with an anchored RegExp on random inputs', () => {
    let seed = 12;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const word = (alphabet: string, max: number) =>
      Array.from({ length: rand(max) }, () => alphabet[rand(alphabet.length)]).join('');
    for (let i = 0; i < 5000; i++) {
      const pattern = word('ab*.', 7);
      const name = word('ab.', 9);
      const re = new RegExp(
        `^${pattern
          .split('*')
          .map((p) => p.replace(/\./g, '\\.'))
          .join('.*')}$`,
      );
      expect(globMatch(pattern, name), `${pattern} vs ${name}`).toBe(re.test(name));
    }
  });
});

describe('identityAllowed / checkIdentity', () => {
  const open = svc('open', ['a.test']);
  const restricted = { ...svc('ci', ['a.test']), identities: ['ci-bot', 'agent-*'] };
  const nobody = { ...svc('off', ['a.test']), identities: [] };
  const anyone = { ...svc('any', ['a.test']), identities: ['*'] };

  it.each<[string, typeof open, string | null, boolean]>([
    ['no list: every identity', open, 'whoever', true],
    ['no list: anonymous too', open, null, true],
    ['listed name', restricted, 'ci-bot', true],
    ['glob', restricted, 'agent-42', true],
    ['not listed', restricted, 'intruder', false],
    ['anonymous against a list', restricted, null, false],
    ['empty list admits no one', nobody, 'ci-bot', false],
    ['`*` admits every named identity', anyone, 'x', true],
    ['`*` does not admit anonymous', anyone, null, false],
  ])('%s', (_label, service, identity, expected) => {
    expect(identityAllowed(service, identity)).toBe(expected);
    const step = checkIdentity(service, identity);
    expect(step.ok ? true : step.code).toBe(expected ? true : 'identity_not_allowed');
  });
});
