/**
 * Property-based fuzzing of what config issues may echo (SPEC §1: issues go to stderr; §7: "The upstream proxy's own
 * credentials are never logged"): never the upstream proxy's password, however the URL is wrong or wherever it was
 * put, and — for `parseJsonText` — never any text of a broken file.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ParseConfigResult, parseConfig, parseJsonText } from '../../src/config/load.js';
import { setAt, validConfig } from './config-helpers.js';

const RUNS = 1000;

/** Edits elsewhere in the file: a few fields replaced by any JSON value, or deleted. */
const OTHER_PATHS: readonly (readonly string[])[] = [
  ['listen'],
  ['agent', 'url'],
  ['audit'],
  ['limits'],
  ['log_level'],
  ['x'],
];
const mutation = fc.tuple(
  fc.constantFrom(...OTHER_PATHS),
  fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
);

const password = fc.stringMatching(/^[A-Za-z0-9]{12,24}$/).map((s) => `pw${s}`);

/** Ways the URL can be wrong while still carrying the password. */
const URL_VARIANTS: readonly ((pw: string) => string)[] = [
  (pw) => `http://user:${pw}@proxy.corp:3128`,
  (pw) => `http://user:${pw}@proxy.corp:3128/path`,
  (pw) => `socks5://user:${pw}@proxy.corp:1080`,
  (pw) => `http://user:${pw}@`,
  (pw) => ` http://user:${pw}@proxy.corp:3128`,
  (pw) => `http://user:${pw}%zz@proxy.corp:3128`,
  (pw) => `http://user:${pw}@proxy.corp:3128?x=1`,
  (pw) => `user:${pw}@proxy.corp:3128`,
  (pw) => `http://user:${pw}@proxy corp:3128`,
  (pw) => `http://user:${pw}@[::1:3128`,
];

/** Where a mistaken config might put the URL (or its password) other than `upstream_proxy.url`. */
const MISPLACED: readonly (readonly string[])[] = [
  ['listen'],
  ['agent', 'url'],
  ['audit', 'sink'],
  ['log_level'],
  ['upstream_proxy'],
  ['passthrough_hosts'],
  ['limits', 'max_connections'],
];

function assertNoPassword(r: ParseConfigResult, pw: string): void {
  if (r.ok) return;
  for (const line of r.issues) expect(line).not.toContain(pw);
}

describe('parseConfig never echoes the upstream proxy password', () => {
  it('whatever is wrong with the URL, and whatever else is wrong in the file', () => {
    fc.assert(
      fc.property(
        password,
        fc.constantFrom(...URL_VARIANTS),
        fc.array(mutation, { maxLength: 3 }),
        (pw, variant, edits) => {
          let config = validConfig(variant(pw));
          for (const [path, value] of edits) config = setAt(config, path, value);
          assertNoPassword(parseConfig(JSON.parse(JSON.stringify(config))), pw);
        },
      ),
      { seed: 0x9a55, numRuns: RUNS },
    );
  });

  it('when the URL is put in the wrong field, bare or inside an array', () => {
    fc.assert(
      fc.property(
        password,
        fc.constantFrom(...URL_VARIANTS),
        fc.constantFrom(...MISPLACED),
        fc.boolean(),
        (pw, variant, path, wrap) => {
          const url = variant(pw);
          const config = setAt(validConfig(), path, wrap ? [url] : url);
          assertNoPassword(parseConfig(config), pw);
        },
      ),
      { seed: 0x9a56, numRuns: RUNS },
    );
  });

  // Regression: an invalid `no_proxy` entry used to be quoted verbatim, so a proxy URL pasted into
  // `upstream_proxy.no_proxy` printed its password on stderr. Quotes now go through quoteInput (src/net/quote.ts).
  it('a proxy URL pasted into upstream_proxy.no_proxy', () => {
    const pw = 'pwNoProxyLeak1234';
    const config = setAt(
      validConfig(),
      ['upstream_proxy', 'no_proxy'],
      `internal.corp,http://user:${pw}@proxy.corp:3128`,
    );
    const r = parseConfig(config);
    expect(r.ok).toBe(false);
    assertNoPassword(r, pw);
  });
});

// Regression: issue messages built inside the schema used to quote the rejected text verbatim, control characters
// included, breaking SPEC §1's one line per issue. They are now JSON-quoted (src/net/quote.ts).
describe('config issues hold no control characters', () => {
  const CONTROL = /[\u0000-\u001f\u007f]/;
  it.each([
    ['listen host', { listen: 'a\nb\u001b[31m:1' }],
    ['passthrough host', { listen: '127.0.0.1:0', passthrough_hosts: ['a\u001b[2Jb'] }],
    [
      'no_proxy entry',
      { listen: '127.0.0.1:0', upstream_proxy: { url: 'http://p:3128', no_proxy: 'a\u001b[2Jb' } },
    ],
  ])('%s', (_label, config) => {
    const r = parseConfig(config);
    expect(r.ok).toBe(false);
    if (!r.ok) for (const line of r.issues) expect(line).not.toMatch(CONTROL);
  });
});

describe('parseJsonText never quotes the file', () => {
  it('a broken config file: the reason holds neither the password nor any text of the file', () => {
    const text = JSON.stringify(validConfig('http://user:pwJsonText0000@proxy.corp:3128'), null, 2);
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.nat(), fc.constantFrom('{', '}', '"', ',', ':', 'x', '\\', '\n', '\u0001', '')),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        (edits) => {
          let broken = text;
          for (const [at, ch] of edits) {
            const i = at % broken.length;
            broken = broken.slice(0, i) + ch + broken.slice(i + 1);
          }
          const r = parseJsonText(broken);
          if (r.ok) return;
          expect(r.reason).toMatch(/^invalid JSON/);
          expect(r.reason).not.toContain('pwJsonText');
          expect(r.reason).not.toContain('proxy.corp');
        },
      ),
      { seed: 0x75e7, numRuns: RUNS },
    );
  });
});
