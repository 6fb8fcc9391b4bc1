/**
 * Injection for the multi-secret types (issue 12): `basic` and `template`, the CR/LF/NUL guard on the rendered value,
 * and the secret names each type asks for (audit `secret_ref`).
 */
import { describe, expect, it } from 'vitest';
import type { ServiceAuth } from '../../../src/agent/source.js';
import { secretNames, secretRef } from '../../../src/pipeline/credential.js';
import { inject } from '../../../src/pipeline/inject.js';
import { parseTemplate } from '../../../src/pipeline/template.js';

function template(text: string, where: { header: string } | { query: string }): ServiceAuth {
  const p = parseTemplate(text);
  if (!p.ok) throw new Error(p.reason);
  return {
    type: 'template',
    header: 'header' in where ? where.header : undefined,
    query: 'query' in where ? where.query : undefined,
    template: text,
    parts: p.parts,
    secrets: p.secrets,
  };
}

const BASIC_LITERAL: ServiceAuth = { type: 'basic', username: 'ci', usernameSecret: undefined, secret: 'PW' };
const BASIC_SECRET: ServiceAuth = {
  type: 'basic',
  username: undefined,
  usernameSecret: 'USER',
  secret: 'PW',
};
const TOKEN = template('Token {{secret:A}}:{{secret:B}}', { header: 'Authorization' });
const SIG = template('v1.{{secret:A}}.{{secret:B}}', { query: 'sig' });

const values = (o: Record<string, string>) => new Map(Object.entries(o));
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function run(path: string, rawHeaders: string[], auth: ServiceAuth, v: Map<string, string>) {
  return inject({ path, rawHeaders }, auth, v);
}

describe('basic', () => {
  it.each([
    ['literal user', BASIC_LITERAL, { PW: 'p@ss:word' }, `Basic ${b64('ci:p@ss:word')}`],
    ['user from a secret', BASIC_SECRET, { USER: 'bot', PW: 'pw' }, `Basic ${b64('bot:pw')}`],
    [
      'UTF-8 (RFC 7617 charset)',
      BASIC_SECRET,
      { USER: 'jörg', PW: 'pässwörd' },
      `Basic ${b64('jörg:pässwörd')}`,
    ],
    ['empty literal user', { ...BASIC_LITERAL, username: '' }, { PW: 'k' }, `Basic ${b64(':k')}`],
  ])('%s', (_l, auth, v, expected) => {
    const res = run(
      '/x',
      ['Host', 'a', 'authorization', 'Basic client', 'AUTHORIZATION', 'x'],
      auth,
      values(v),
    );
    expect(res).toEqual({
      ok: true,
      value: { path: '/x', rawHeaders: ['Host', 'a', 'Authorization', expected] },
    });
  });

  it.each([
    ['CR in the password', BASIC_SECRET, { USER: 'u', PW: 'a\rb' }],
    ['LF in the user', BASIC_SECRET, { USER: 'u\n', PW: 'p' }],
    ['NUL in the password', BASIC_LITERAL, { PW: 'a\0' }],
    ['colon in a secret user (RFC 7617 §2)', BASIC_SECRET, { USER: 'a:b', PW: 'p' }],
    ['lone surrogate', BASIC_SECRET, { USER: 'u', PW: '\ud800' }],
    ['missing value', BASIC_SECRET, { PW: 'p' }],
  ])('%s ⇒ invalid_credential', (_l, auth, v) => {
    expect(run('/x', [], auth, values(v))).toEqual({ ok: false, code: 'invalid_credential' });
  });
});

describe('template', () => {
  it('header: every placeholder replaced, the client header replaced', () => {
    const res = run(
      '/x',
      ['authorization', 'Bearer mine', 'Host', 'a'],
      TOKEN,
      values({ A: 'id', B: 'key' }),
    );
    expect(res).toEqual({
      ok: true,
      value: { path: '/x', rawHeaders: ['Host', 'a', 'Authorization', 'Token id:key'] },
    });
  });

  it('query: the rendered value is percent-encoded, the client parameter replaced', () => {
    const res = run('/x?sig=mine&a=1', [], SIG, values({ A: 'a b', B: 'c&d' }));
    expect(res).toEqual({ ok: true, value: { path: '/x?a=1&sig=v1.a%20b.c%26d', rawHeaders: [] } });
  });

  it.each([
    ['CR LF in one secret (header)', TOKEN, { A: 'x\r\nEvil: 1', B: 'y' }],
    ['NUL in one secret (query)', SIG, { A: 'x', B: '\0' }],
    ['a value a header cannot carry', TOKEN, { A: 'x\u0100', B: 'y' }],
    ['a missing value', TOKEN, { A: 'x' }],
  ])('%s ⇒ invalid_credential', (_l, auth, v) => {
    expect(run('/x', [], auth, values(v))).toEqual({ ok: false, code: 'invalid_credential' });
  });

  it('a bare string is never enough for a template', () => {
    expect(inject({ path: '/', rawHeaders: [] }, TOKEN, 'x')).toEqual({
      ok: false,
      code: 'invalid_credential',
    });
  });
});

describe('secret names and audit refs', () => {
  it.each([
    ['bearer', { type: 'bearer', secret: 'K' } as ServiceAuth, ['K'], 'K'],
    ['basic literal', BASIC_LITERAL, ['PW'], ['PW']],
    ['basic secret user', BASIC_SECRET, ['USER', 'PW'], ['USER', 'PW']],
    ['basic same secret twice', { ...BASIC_SECRET, usernameSecret: 'PW' } as ServiceAuth, ['PW'], ['PW']],
    ['template', TOKEN, ['A', 'B'], ['A', 'B']],
  ])('%s', (_l, auth, names, ref) => {
    expect(secretNames(auth)).toEqual(names);
    expect(secretRef(auth)).toEqual(ref);
    expect(secretNames(auth)).toBe(secretNames(auth));
  });
});
