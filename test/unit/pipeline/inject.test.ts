import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ServiceAuth } from '../../../src/agent/source.js';
import { inject } from '../../../src/pipeline/inject.js';

const BEARER: ServiceAuth = { type: 'bearer', secret: 'K' };
const HEADER: ServiceAuth = { type: 'api_key_header', header: 'X-Api-Key', secret: 'K', prefix: '' };
const HEADER_PREFIX: ServiceAuth = {
  type: 'api_key_header',
  header: 'X-Api-Key',
  secret: 'K',
  prefix: 'Token ',
};
const QUERY: ServiceAuth = { type: 'api_key_query', param: 'key', secret: 'K' };

function run(path: string, rawHeaders: string[], auth: ServiceAuth, secret: string) {
  const req = Object.freeze({ path, rawHeaders: Object.freeze([...rawHeaders]) });
  return { req, res: inject(req, auth, secret) };
}

describe('inject: headers', () => {
  it.each([
    ['bearer added', ['Host', 'a'], BEARER, 's3cr3t', ['Host', 'a', 'Authorization', 'Bearer s3cr3t']],
    [
      'bearer replaces every client Authorization, any case',
      ['authorization', 'Basic x', 'Host', 'a', 'AUTHORIZATION', 'Bearer client'],
      BEARER,
      'ours',
      ['Host', 'a', 'Authorization', 'Bearer ours'],
    ],
    ['api key header', ['Host', 'a'], HEADER, 'k-1', ['Host', 'a', 'X-Api-Key', 'k-1']],
    [
      'api key header with prefix replaces the client one',
      ['x-api-key', 'client', 'Accept', '*/*'],
      HEADER_PREFIX,
      'abc',
      ['Accept', '*/*', 'X-Api-Key', 'Token abc'],
    ],
    [
      'other headers untouched, including a client Authorization for api key auth',
      ['Authorization', 'Bearer client', 'X-Api-Keys', 'n'],
      HEADER,
      'v',
      ['Authorization', 'Bearer client', 'X-Api-Keys', 'n', 'X-Api-Key', 'v'],
    ],
    ['obs-text and symbols pass', [], BEARER, 'a+b/c=\xe9', ['Authorization', 'Bearer a+b/c=\xe9']],
  ])('%s', (_label, raw, auth, secret, expected) => {
    const { req, res } = run('/x?q=1', raw, auth, secret);
    expect(res).toEqual({ ok: true, value: { path: '/x?q=1', rawHeaders: expected } });
    expect(res.ok && res.value.rawHeaders).not.toBe(req.rawHeaders);
  });

  it.each([
    ['CR in secret', BEARER, 'abc\rdef'],
    ['LF in secret', BEARER, 'abc\n'],
    ['CRLF header injection in secret', HEADER, 'v\r\nX-Evil: 1'],
    ['NUL in secret', HEADER, 'a\0b'],
    ['CR in secret (query auth too)', QUERY, 'a\rb'],
    ['LF in secret (query auth too)', QUERY, 'a\nb'],
    ['NUL in secret (query auth too)', QUERY, 'a\0b'],
    ['other control char', BEARER, 'a\x07b'],
    ['DEL', HEADER, 'a\x7fb'],
    ['above latin-1', BEARER, 'kéy\u20ac'],
    ['CR in prefix', { ...HEADER_PREFIX, prefix: 'Token\r\n' }, 'abc'],
    ['header name not a token', { ...HEADER, header: 'X Api' }, 'abc'],
    ['reserved header Host', { ...HEADER, header: 'Host' }, 'abc'],
    ['reserved header Content-Length', { ...HEADER, header: 'content-length' }, '1'],
    ['reserved header Transfer-Encoding', { ...HEADER, header: 'Transfer-Encoding' }, 'chunked'],
    ['reserved header Proxy-Authorization', { ...HEADER, header: 'Proxy-Authorization' }, 'x'],
    ['empty query param', { ...QUERY, param: '' }, 'x'],
    ['lone surrogate in query secret', QUERY, 'a\ud800b'],
  ] as Array<[string, ServiceAuth, string]>)('%s ⇒ invalid_credential', (_label, auth, secret) => {
    const { res } = run('/x', ['Authorization', 'client', 'X-Api-Key', 'client'], auth, secret);
    expect(res).toEqual({ ok: false, code: 'invalid_credential' });
  });
});

describe('inject: query', () => {
  it.each([
    ['no query', '/v1/x', 'sek', '/v1/x?key=sek'],
    ['empty query', '/v1/x?', 'sek', '/v1/x?key=sek'],
    ['appended after others', '/v1/x?a=1&b=2', 'sek', '/v1/x?a=1&b=2&key=sek'],
    ['every client occurrence replaced', '/v1?a=1&key=client&b=2&key=x', 'sek', '/v1?a=1&b=2&key=sek'],
    ['valueless and empty-valued occurrences removed', '/v1?key&key=&a', 'sek', '/v1?a&key=sek'],
    ['encoded name is the same name', '/v1?k%65y=client&a=1', 'sek', '/v1?a=1&key=sek'],
    [
      'others kept byte-for-byte',
      '/v1?a=%2F%2f&b=x+y&c=%ZZ&keys=1&xkey=2',
      'sek',
      '/v1?a=%2F%2f&b=x+y&c=%ZZ&keys=1&xkey=2&key=sek',
    ],
    ['empty pieces dropped', '/v1?&a=1&&b=2&', 'sek', '/v1?a=1&b=2&key=sek'],
    ['space & = are encoded', '/v1', 'a b&c=d', '/v1?key=a%20b%26c%3Dd'],
    ['plus, slash, percent, hash encoded', '/v1', '+/%#?', '/v1?key=%2B%2F%25%23%3F'],
    ['unicode as UTF-8', '/v1', 'ключ€', '/v1?key=%D0%BA%D0%BB%D1%8E%D1%87%E2%82%AC'],
  ])('%s: %s', (_label, path, secret, expected) => {
    const { req, res } = run(path, ['Host', 'a', 'Authorization', 'client'], QUERY, secret);
    expect(res).toEqual({
      ok: true,
      value: { path: expected, rawHeaders: ['Host', 'a', 'Authorization', 'client'] },
    });
    expect(res.ok && res.value.rawHeaders).not.toBe(req.rawHeaders);
  });

  it('encodes a param name that needs it and still replaces the client one', () => {
    const auth: ServiceAuth = { type: 'api_key_query', param: 'api key', secret: 'K' };
    const { res } = run('/v1?api+key=c1&api%20key=c2&a=1', [], auth, 'v');
    expect(res).toEqual({ ok: true, value: { path: '/v1?a=1&api%20key=v', rawHeaders: [] } });
  });

  it('property: exactly our value for the param, other params unchanged, in order', () => {
    const name = fc.constantFrom('a', 'b', 'key', 'k%65y', 'KEY', 'key2', 'x+y');
    const pieces = fc.array(fc.tuple(name, fc.string({ unit: 'grapheme-ascii' })), { maxLength: 6 });
    const secret = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => !/[\r\n\0]/.test(s));
    fc.assert(
      fc.property(pieces, secret, (ps, s) => {
        const query = ps.map(([n, v]) => `${n}=${encodeURIComponent(v)}`).join('&');
        const res = inject({ path: `/p?${query}`, rawHeaders: [] }, QUERY, s);
        if (!res.ok) return false;
        const params = new URLSearchParams(res.value.path.slice(res.value.path.indexOf('?') + 1));
        const expectedOthers = ps
          .filter(([n]) => new URLSearchParams(`${n}=`).keys().next().value !== 'key')
          .map(([n, v]) => [new URLSearchParams(`${n}=`).keys().next().value, v]);
        const others = [...params].filter(([n]) => n !== 'key');
        return (
          params.getAll('key').length === 1 &&
          params.get('key') === s &&
          JSON.stringify(others) === JSON.stringify(expectedOthers)
        );
      }),
    );
  });

  it('property: header injection leaves exactly one header of that name, ours', () => {
    const nameCase = fc.constantFrom('x-api-key', 'X-API-KEY', 'X-Api-Key', 'Accept', 'X-Other');
    const raw = fc.array(fc.tuple(nameCase, fc.string({ unit: 'grapheme-ascii' })), { maxLength: 6 });
    fc.assert(
      fc.property(raw, fc.stringMatching(/^[A-Za-z0-9._~+/=-]{0,40}$/), (pairs, s) => {
        const res = inject({ path: '/', rawHeaders: pairs.flat() }, HEADER_PREFIX, s);
        if (!res.ok) return false;
        const out = res.value.rawHeaders;
        const ours = [];
        for (let i = 0; i < out.length; i += 2)
          if (out[i]!.toLowerCase() === 'x-api-key') ours.push(out[i + 1]);
        const keptOthers = pairs.filter(([n]) => n.toLowerCase() !== 'x-api-key').flat();
        return (
          ours.length === 1 &&
          ours[0] === `Token ${s}` &&
          JSON.stringify(out.slice(0, -2)) === JSON.stringify(keptOthers)
        );
      }),
    );
  });
});
