import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type IdentityTable, parseIdentitiesDoc } from '../../../src/agent/identities.js';
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
    expect(authenticate(header, token).ok).toBe(expected);
  });

  it('compares raw bytes: a non-UTF-8 password does not match its replacement-character text', () => {
    const text = '\ufffd';
    const raw = Buffer.concat([Buffer.from('u:'), Buffer.from([0xff])]);
    expect(authenticate(`Basic ${raw.toString('base64')}`, prepareToken(text)).ok).toBe(false);
  });

  it('accepts a UTF-8 token', () => {
    expect(authenticate(basic('u:clé-ü'), prepareToken('clé-ü')).ok).toBe(true);
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

describe('authenticate: the username is the identity (issue 12)', () => {
  const hex = (t: string) => createHash('sha256').update(t).digest('hex');
  const parsed = parseIdentitiesDoc([
    { name: 'ci-bot', token_sha256: hex('ci-secret') },
    { name: 'agent-7', token_sha256: hex('seven').toUpperCase() },
    { name: 'blank', token_sha256: hex('') },
  ]);
  if (!parsed.ok) throw new Error(parsed.issues.join());
  const table = parsed.table;

  it.each<[string, string | undefined, Buffer | null, IdentityTable | undefined, string | null | false]>([
    ['table: right name and token', basic('ci-bot:ci-secret'), digest, table, 'ci-bot'],
    ['table: upper-case hex digest in the document', basic('agent-7:seven'), digest, table, 'agent-7'],
    ['table: token of another identity', basic('ci-bot:seven'), digest, table, false],
    ['table: unknown identity', basic('nobody:ci-secret'), digest, table, false],
    ['table: names are case-sensitive', basic('CI-BOT:ci-secret'), digest, table, false],
    ['table: the shared token opens nothing', basic(`ci-bot:${TOKEN}`), digest, table, false],
    ['table: an empty token never matches', basic('blank:'), digest, table, false],
    ['table: no header', undefined, digest, table, false],
    ['table: empty username', basic(':ci-secret'), digest, table, false],
    ['shared token: the username is the identity', basic(`ci-bot:${TOKEN}`), digest, undefined, 'ci-bot'],
    ['shared token: any username', basic(`whoever:${TOKEN}`), digest, undefined, 'whoever'],
    ['shared token: empty username is anonymous', basic(`:${TOKEN}`), digest, undefined, null],
    ['shared token: a username with spaces is anonymous', basic(`a b:${TOKEN}`), digest, undefined, null],
    ['shared token: wrong token', basic('ci-bot:nope'), digest, undefined, false],
    ['waived: no header is anonymous', undefined, null, undefined, null],
    ['waived, no table: the claimed username', basic('ci-bot:x'), null, undefined, 'ci-bot'],
    ['waived, table: a proven identity', basic('ci-bot:ci-secret'), null, table, 'ci-bot'],
    ['waived, table: a wrong token is anonymous', basic('ci-bot:nope'), null, table, null],
  ])('%s', (_label, header, token, identities, expected) => {
    const result = authenticate(header, token, identities);
    if (expected === false) expect(result).toEqual({ ok: false });
    else expect(result).toEqual({ ok: true, identity: expected });
  });

  it('a non-UTF-8 username is never an identity', () => {
    const raw = Buffer.concat([Buffer.from([0xff]), Buffer.from(`:${TOKEN}`)]);
    expect(authenticate(`Basic ${raw.toString('base64')}`, digest)).toEqual({ ok: true, identity: null });
  });

  it('a refusal does not say which part failed', () => {
    const unknown = authenticate(basic('nobody:ci-secret'), digest, table);
    const wrong = authenticate(basic('ci-bot:wrong'), digest, table);
    expect(unknown).toEqual(wrong);
  });
});
