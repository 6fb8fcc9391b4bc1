/**
 * Property-based fuzzing of credential templates (issue 12): parsing never throws and accepts exactly the strict
 * syntax; rendering replaces each placeholder by its value and nothing else; and whatever the secrets hold, the
 * injected header or query never carries CR, LF or NUL — a secret cannot split the request through a template.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ServiceAuth } from '../../src/agent/source.js';
import { inject } from '../../src/pipeline/inject.js';
import { parseTemplate, renderTemplate, type TemplatePart } from '../../src/pipeline/template.js';

const RUNS = 2000;
const name = fc.stringMatching(/^[\x21-\x7a|~]{1,6}$/);
const literal = fc.stringMatching(/^[^{}\x00-\x08\x0a-\x1f\x7f]{0,6}$/);
const part: fc.Arbitrary<TemplatePart> = fc.oneof(
  literal,
  name.map((secret) => ({ secret })),
);

/** Merge adjacent literals and drop empty ones: the canonical parts of the text they spell. */
function canonical(parts: readonly TemplatePart[]): TemplatePart[] {
  const out: TemplatePart[] = [];
  for (const p of parts) {
    const last = out[out.length - 1];
    if (typeof p === 'string') {
      if (p === '') continue;
      if (typeof last === 'string') out[out.length - 1] = last + p;
      else out.push(p);
    } else out.push(p);
  }
  return out;
}

function spell(parts: readonly TemplatePart[]): string {
  return parts.map((p) => (typeof p === 'string' ? p : `{{secret:${p.secret}}}`)).join('');
}

describe('parseTemplate', () => {
  it('never throws, and anything it accepts round-trips to the same text', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 30 }), fc.array(part, { maxLength: 6 }).map(spell)),
        (text) => {
          const r = parseTemplate(text);
          if (r.ok) expect(spell(r.parts)).toBe(text);
        },
      ),
      { seed: 0x7e41, numRuns: RUNS },
    );
  });

  it('accepts every well-formed template with a placeholder, with its canonical parts and names', () => {
    fc.assert(
      fc.property(fc.array(part, { maxLength: 6 }), (parts) => {
        const want = canonical(parts);
        const names = [
          ...new Set(want.filter((p) => typeof p !== 'string').map((p) => (p as { secret: string }).secret)),
        ];
        const r = parseTemplate(spell(parts));
        if (names.length === 0) expect(r.ok).toBe(false);
        else expect(r).toEqual({ ok: true, parts: want, secrets: names });
      }),
      { seed: 0x7e42, numRuns: RUNS },
    );
  });

  it('refuses a stray brace anywhere in a good template', () => {
    fc.assert(
      fc.property(
        fc.array(part, { minLength: 1, maxLength: 4 }),
        fc.constantFrom('{', '}', '{{', '}}', '{{x}}'),
        fc.nat(),
        (parts, brace, at) => {
          const text = spell([...parts, { secret: 'A' }]);
          // Insert at a boundary between characters that is not inside a placeholder: at the very start or end.
          const broken = at % 2 === 0 ? brace + text : text + brace;
          expect(parseTemplate(broken).ok).toBe(false);
        },
      ),
      { seed: 0x7e43, numRuns: RUNS },
    );
  });
});

describe('renderTemplate and inject', () => {
  const value = fc.string({ maxLength: 8, unit: 'binary' });

  it('renders each placeholder as its value; the CR/LF/NUL guard holds on the rendered header and query', () => {
    fc.assert(
      fc.property(
        fc.array(part, { maxLength: 5 }),
        fc.dictionary(name, value),
        fc.boolean(),
        (parts, dict, asHeader) => {
          const parsed = parseTemplate(spell([...parts, { secret: 'A' }]));
          if (!parsed.ok) throw new Error(parsed.reason);
          const values = new Map(Object.entries({ A: 'a', ...dict }));
          for (const n of parsed.secrets) if (!values.has(n)) values.set(n, 'v');
          const rendered = renderTemplate(parsed.parts, values)!;
          expect(rendered).toBe(
            parsed.parts.map((p) => (typeof p === 'string' ? p : values.get(p.secret))).join(''),
          );
          const auth: ServiceAuth = {
            type: 'template',
            header: asHeader ? 'X-Sig' : undefined,
            query: asHeader ? undefined : 'sig',
            template: '',
            parts: parsed.parts,
            secrets: parsed.secrets,
          };
          const res = inject({ path: '/p?sig=old', rawHeaders: ['Host', 'h'] }, auth, values);
          if (/[\r\n\0]/.test(rendered)) {
            expect(res).toEqual({ ok: false, code: 'invalid_credential' });
            return;
          }
          if (!res.ok) return; // other header-value refusals (e.g. code points above 0xFF) are fine
          const out = res.value;
          for (const piece of [out.path, ...out.rawHeaders]) expect(piece).not.toMatch(/[\r\n\0]/);
          if (asHeader) expect(out.rawHeaders.slice(-2)).toEqual(['X-Sig', rendered]);
          else expect(new URLSearchParams(out.path.split('?')[1]).getAll('sig')).toEqual([rendered]);
        },
      ),
      { seed: 0x7e44, numRuns: RUNS },
    );
  });
});
