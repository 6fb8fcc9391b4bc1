/**
 * Property-based fuzzing of config validation (SPEC §1, §3): `parseConfig` never throws on any JSON value and
 * reports every failure as `<path>: <message>` lines. What the issues must never echo is config-echo.fuzz.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ParseConfigResult, parseConfig } from '../../src/config/load.js';
import { setAt, validConfig } from './config-helpers.js';

const RUNS = 1000;

/** A path (first segment), then the rendered message: `(root)`, `a.b`, `a[0].b`, `["odd key"]` … then `: msg`. */
const ISSUE_LINE =
  /^(?:\(root\)|[A-Za-z_][A-Za-z0-9_]*|\[(?:\d+|".*")\])(?:\.[A-Za-z_][A-Za-z0-9_]*|\[(?:\d+|".*?")\])*: \S/;

/** The outcome is one of the two declared shapes; a failure is a non-empty list of `path: message` strings. */
function assertWellFormed(r: ParseConfigResult): void {
  if (r.ok) {
    expect(Object.isFrozen(r.config)).toBe(true);
    return;
  }
  expect(r.issues.length).toBeGreaterThan(0);
  for (const line of r.issues) {
    expect(typeof line).toBe('string');
    expect(line).toMatch(ISSUE_LINE);
  }
}

const KEY_PATHS: readonly (readonly string[])[] = [
  ['listen'],
  ['ca_dir'],
  ['agent'],
  ['agent', 'url'],
  ['agent', 'secret_ttl_ms'],
  ['passthrough_hosts'],
  ['audit'],
  ['audit', 'sink'],
  ['audit', 'path'],
  ['upstream_proxy'],
  ['upstream_proxy', 'url'],
  ['upstream_proxy', 'no_proxy'],
  ['limits'],
  ['limits', 'max_connections'],
  ['log_level'],
  ['drain_timeout_ms'],
  ['unknown_key'],
  ['limits', 'unknown_limit'],
];

/** A mutation: one path of the valid config replaced by any JSON value, or deleted. */
const mutation = fc.tuple(
  fc.constantFrom(...KEY_PATHS),
  fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }),
);

describe('parseConfig never throws', () => {
  it('on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assertWellFormed(parseConfig(value));
      }),
      { seed: 0xc0f1, numRuns: RUNS },
    );
  });

  it('on arbitrary JSON objects (more of them reach the key checks)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), (value) => {
        assertWellFormed(parseConfig(value));
      }),
      { seed: 0xc0f2, numRuns: RUNS },
    );
  });

  it('on mutations of a valid config', () => {
    expect(parseConfig(validConfig()).ok).toBe(true);
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (edits) => {
        let config = validConfig();
        for (const [path, value] of edits) config = setAt(config, path, value);
        // Through JSON text and back, as the file loader sees it.
        assertWellFormed(parseConfig(JSON.parse(JSON.stringify(config))));
      }),
      { seed: 0xc0f3, numRuns: RUNS },
    );
  });
});
