import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { authenticate, prepareToken } from '../../../src/pipeline/authenticate.js';

const TOKEN = 'tok-3f9a7c';
const COLON_TOKEN = 'a:b:c';
const digest = prepareToken(TOKEN);

function basic(userPass: string, scheme = 'Basic'): string {
  return `${scheme} ${Buffer.from(userPass, 'utf8').toString('base64')}`;
}

describe('authenticate', () => {
  it.each<[string, string | undefined, Buffer | null, boolean]>([
    ['right token, any username', basic(`alice:${TOKEN}`), digest, true],
    ['right token, empty username', basic(`:${TOKEN}`), digest, true],
    ['right token, username with spaces', basic(`some body:${TOKEN}`), digest, true],
    ['lower-case scheme', basic(`u:${TOKEN}`, 'basic'), digest, true],
    ['upper-case scheme', basic(`u:${TOKEN}`, 'BASIC'), digest, true],
    [
      'several spaces after the scheme',
      `Basic   ${Buffer.from(`u:${TOKEN}`).toString('base64')}`,
      digest,
      true,
    ],
    [
      'token containing a colon: split on the first',
      basic(`u:${COLON_TOKEN}`),
      prepareToken(COLON_TOKEN),
      true,
    ],
    ['colon token, split elsewhere', basic(`u:a:${COLON_TOKEN}`), prepareToken(COLON_TOKEN), false],
    ['waived, no header', undefined, null, true],
    ['waived, garbage header', 'Bearer nope', null, true],
    ['wrong token', basic('u:wrong'), digest, false],
    ['token prefix', basic(`u:${TOKEN.slice(0, -1)}`), digest, false],
    ['token plus suffix', basic(`u:${TOKEN}x`), digest, false],
    ['token as the username', basic(`${TOKEN}:`), digest, false],
    ['token as the username, wrong password', basic(`${TOKEN}:x`), digest, false],
    ['missing header', undefined, digest, false],
    ['empty header', '', digest, false],
    ['scheme only', 'Basic', digest, false],
    ['scheme and space only', 'Basic ', digest, false],
    ['no colon', basic(TOKEN), digest, false],
    ['empty password', basic('u:'), digest, false],
    ['empty password against an empty token', basic('u:'), prepareToken(''), false],
    ['Bearer with the token', `Bearer ${TOKEN}`, digest, false],
    ['Bearer with base64 user:token', basic(`u:${TOKEN}`, 'Bearer'), digest, false],
    ['bad base64 characters', 'Basic dTp0b2tl*bi0zZjlhN2M=', digest, false],
    [
      'base64 with bad length',
      `Basic ${Buffer.from(`al:${TOKEN}`).toString('base64').replace(/=+$/, '')}x`,
      digest,
      false,
    ],
    ['padded base64, correct', basic(`al:${TOKEN}`), digest, true],
    [
      'base64 without padding',
      `Basic ${Buffer.from(`al:${TOKEN}`).toString('base64').replace(/=+$/, '')}`,
      digest,
      false,
    ],
    ['base64url alphabet', 'Basic dTp0b2tl-_', digest, false],
    ['trailing junk after the credentials', `${basic(`u:${TOKEN}`)} extra`, digest, false],
    ['token68 with no scheme', Buffer.from(`u:${TOKEN}`).toString('base64'), digest, false],
  ])('%s', (_label, header, token, expected) => {
    expect(authenticate(header, token)).toBe(expected);
  });

  it('compares raw bytes: a non-UTF-8 password does not match its replacement-character text', () => {
    const text = '\ufffd';
    const raw = Buffer.concat([Buffer.from('u:'), Buffer.from([0xff])]);
    expect(authenticate(`Basic ${raw.toString('base64')}`, prepareToken(text))).toBe(false);
  });

  it('accepts a UTF-8 token', () => {
    expect(authenticate(basic('u:clé-ü'), prepareToken('clé-ü'))).toBe(true);
  });
});

describe('prepareToken', () => {
  it('is a 32-byte SHA-256 digest that does not contain the token', () => {
    const d = prepareToken(TOKEN);
    expect(d.length).toBe(32);
    expect(d.toString('hex')).toBe(createHash('sha256').update(TOKEN, 'utf8').digest('hex'));
    expect(d.includes(Buffer.from(TOKEN))).toBe(false);
    expect(prepareToken(TOKEN).equals(d)).toBe(true);
    expect(prepareToken(`${TOKEN}x`).equals(d)).toBe(false);
  });
});
