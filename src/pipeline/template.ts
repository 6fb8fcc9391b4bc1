/**
 * Credential templates (issue 12, `{"type":"template"}`): text with `{{secret:NAME}}` placeholders, parsed once when
 * the services document is validated (STYLE habit 4) into literal and secret parts, and rendered per request by
 * concatenation — no regular expression runs on the hot path.
 *
 * Syntax, strict so that a typo is a refused services document rather than a credential sent half-rendered:
 * - a placeholder is exactly `{{secret:NAME}}`, NAME one or more visible ASCII characters other than `{` and `}`;
 * - every other `{` or `}` is an error (there is no escape): `{{foo}}`, `{{secret:}}`, `{{secret:A}`, `{x}`;
 * - at least one placeholder (a constant is not a credential);
 * - literal text holds no control characters (it is written into a header or a query value).
 */

/** One piece of a parsed template: literal text, or the name of the secret to put there. */
export type TemplatePart = string | { readonly secret: string };

/** A parsed template, or why it is refused. */
export type ParsedTemplate =
  | { readonly ok: true; readonly parts: readonly TemplatePart[]; readonly secrets: readonly string[] }
  | { readonly ok: false; readonly reason: string };

const OPEN = '{{secret:';
// Visible ASCII without braces: a secret name must survive in a URL path (`/v1/secrets/{key}`) and a log field.
const NAME_RE = /^[\x21-\x7a|~]+$/;
// Controls (C0, DEL): CR/LF/NUL split headers; the rest are not field-value characters (RFC 9110 §5.5).
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

function fail(reason: string): ParsedTemplate {
  return { ok: false, reason };
}

/** Parse `text`; `secrets` lists each distinct name once, in order of first use. */
export function parseTemplate(text: string): ParsedTemplate {
  if (CONTROL_RE.test(text)) return fail('template holds a control character');
  const parts: TemplatePart[] = [];
  const secrets: string[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '{') {
      if (!text.startsWith(OPEN, i))
        return fail(`unknown placeholder at offset ${i} (expected {{secret:NAME}})`);
      const close = text.indexOf('}}', i + OPEN.length);
      if (close < 0) return fail(`unclosed placeholder at offset ${i}`);
      const name = text.slice(i + OPEN.length, close);
      if (!NAME_RE.test(name)) return fail(`bad secret name in the placeholder at offset ${i}`);
      if (literal !== '') parts.push(literal);
      literal = '';
      parts.push(Object.freeze({ secret: name }));
      if (!secrets.includes(name)) secrets.push(name);
      i = close + 2;
    } else if (ch === '}') {
      return fail(`unbalanced "}" at offset ${i}`);
    } else {
      literal += ch;
      i++;
    }
  }
  if (literal !== '') parts.push(literal);
  if (secrets.length === 0) return fail('template has no {{secret:NAME}} placeholder');
  return { ok: true, parts: Object.freeze(parts), secrets: Object.freeze(secrets) };
}

/**
 * Render parsed `parts` with secret values from `values`. Undefined when a value is missing — the caller fetched
 * every name first, so that is a programming error and fails closed like a missing secret.
 */
export function renderTemplate(
  parts: readonly TemplatePart[],
  values: ReadonlyMap<string, string>,
): string | undefined {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    const value = values.get(part.secret);
    if (value === undefined) return undefined;
    out += value;
  }
  return out;
}
