/**
 * Credential templates (issue 12): the strict placeholder syntax, parsed once, and rendering by concatenation.
 */
import { describe, expect, it } from 'vitest';
import { parseTemplate, renderTemplate } from '../../../src/pipeline/template.js';

describe('parseTemplate: accepted', () => {
  it.each([
    ['{{secret:A}}', [{ secret: 'A' }], ['A']],
    ['Token {{secret:A}}:{{secret:B}}', ['Token ', { secret: 'A' }, ':', { secret: 'B' }], ['A', 'B']],
    ['{{secret:A}}{{secret:A}}', [{ secret: 'A' }, { secret: 'A' }], ['A']],
    ['k={{secret:team/api.key-1}}&x', ['k=', { secret: 'team/api.key-1' }, '&x'], ['team/api.key-1']],
    ['\t{{secret:A}} ', ['\t', { secret: 'A' }, ' '], ['A']],
    ['{{secret:a:b}}', [{ secret: 'a:b' }], ['a:b']],
  ])('%s', (text, parts, secrets) => {
    expect(parseTemplate(text)).toEqual({ ok: true, parts, secrets });
  });
});

describe('parseTemplate: refused', () => {
  it.each([
    ['', /no \{\{secret:NAME\}\} placeholder/],
    ['Token abc', /no \{\{secret:NAME\}\} placeholder/],
    ['{{foo}}', /unknown placeholder/],
    ['{{ secret:A }}', /unknown placeholder/],
    ['{{SECRET:A}}', /unknown placeholder/],
    ['{{secret:}}', /bad secret name/],
    ['{{secret:A B}}', /bad secret name/],
    ['{{secret:A}', /unclosed/],
    ['{{secret:A', /unclosed/],
    ['{secret:A}}', /unknown placeholder/],
    ['{{secret:A}}}', /unbalanced/],
    ['x}', /unbalanced/],
    ['{x}', /unknown placeholder/],
    ['{{{secret:A}}}', /unknown placeholder/],
    ['{{secret:{{secret:A}}}}', /bad secret name/],
    ['a\r\n{{secret:A}}', /control character/],
    ['{{secret:A}}\0', /control character/],
  ])('%j', (text, why) => {
    const r = parseTemplate(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(why);
  });
});

describe('renderTemplate', () => {
  const parsed = parseTemplate('Token {{secret:A}}:{{secret:B}}/{{secret:A}}');
  if (!parsed.ok) throw new Error('fixture');
  it('replaces every placeholder, the same name each time', () => {
    expect(
      renderTemplate(
        parsed.parts,
        new Map([
          ['A', 'x'],
          ['B', 'y'],
        ]),
      ),
    ).toBe('Token x:y/x');
  });
  it('a value that looks like a placeholder is not expanded again', () => {
    expect(
      renderTemplate(
        parsed.parts,
        new Map([
          ['A', '{{secret:B}}'],
          ['B', 'y'],
        ]),
      ),
    ).toBe('Token {{secret:B}}:y/{{secret:B}}');
  });
  it('a missing value is undefined, never a partial rendering', () => {
    expect(renderTemplate(parsed.parts, new Map([['A', 'x']]))).toBeUndefined();
  });
});
