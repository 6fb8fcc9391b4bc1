import type * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { describeValue, formatPath, summarizeIssues } from '../../../src/config/summarize.js';

function issue(path: Array<string | number>, message: string, input: unknown): v.BaseIssue<unknown> {
  return {
    kind: 'schema',
    type: 'custom',
    input,
    expected: null,
    received: 'x',
    message,
    path: path.map((key) => ({ type: 'object', origin: 'value', input: {}, key, value: input })),
  } as unknown as v.BaseIssue<unknown>;
}

describe('formatPath', () => {
  it.each<[Array<string | number>, string]>([
    [[], '(root)'],
    [['listen'], 'listen'],
    [['limits', 'max_connections'], 'limits.max_connections'],
    [['passthrough_hosts', 0], 'passthrough_hosts[0]'],
    [['a', 1, 'b'], 'a[1].b'],
    [['odd key'], '["odd key"]'],
    [['a', 'b.c'], 'a["b.c"]'],
    [['\u001b[31m'], '["\\u001b[31m"]'],
    [['k'.repeat(70)], `["${'k'.repeat(64)}…"]`],
  ])('%j → %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });
});

describe('describeValue', () => {
  it.each<[unknown, string | undefined]>([
    [-1, '-1'],
    [1.5, '1.5'],
    [0, '0'],
    [Number.NaN, undefined],
    [true, 'true'],
    [null, 'null'],
    ['info', '"info"'],
    ['', '""'],
    ['a'.repeat(64), `"${'a'.repeat(64)}"`],
    ['a'.repeat(65), 'a string'],
    ['http://proxy:3128', undefined],
    ['user:pass@host', undefined],
    ['line\nbreak', undefined],
    ['\u001b[2J', undefined],
    [[1, 2], 'an array'],
    [{ a: 1 }, 'an object'],
    [undefined, undefined],
  ])('%j → %s', (value, shown) => {
    expect(describeValue(value)).toBe(shown);
  });
});

describe('summarizeIssues', () => {
  it('appends the received value to "expected" messages only', () => {
    expect(
      summarizeIssues([
        issue(['limits', 'max_connections'], 'expected a positive integer', -1),
        issue(['bogus'], 'unknown key', 'bogus'),
        issue(['passthrough_hosts', 1], 'invalid host "a..b"', 'a..b'),
      ]),
    ).toEqual([
      'limits.max_connections: expected a positive integer, got -1',
      'bogus: unknown key',
      'passthrough_hosts[1]: invalid host "a..b"',
    ]);
  });

  it('never quotes a value received for upstream_proxy.url, even a harmless-looking one', () => {
    expect(summarizeIssues([issue(['upstream_proxy', 'url'], 'expected a string', 'hunter2')])).toEqual([
      'upstream_proxy.url: expected a string',
    ]);
  });

  it('leaves out values it must not show and drops exact duplicates', () => {
    const i = issue(['agent', 'url'], 'expected an http:// URL', 'https://tok@127.0.0.1');
    expect(summarizeIssues([i, i])).toEqual(['agent.url: expected an http:// URL']);
  });
});
