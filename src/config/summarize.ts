/**
 * Config issues as lines `<json.path>: <message>` (SPEC §1: every issue at once, each with its field path).
 * A received value is quoted only when it is harmless to print: numbers, booleans, null and short plain strings.
 * Nothing that looks like a URL or credentials is ever echoed, and `upstream_proxy.url` never is (SPEC §7: the
 * upstream proxy's credentials are never logged).
 */
import type * as v from 'valibot';

/** Paths whose received values are never quoted, whatever they look like. */
const NEVER_QUOTED = new Set(['upstream_proxy.url']);
const MAX_QUOTED = 64;
// Control characters (terminal escapes), `@` (userinfo) and `://` (URLs) are never echoed.
const UNQUOTABLE = /[\u0000-\u001f\u007f@]|:\/\//;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Render a path like `limits.max_connections`, `passthrough_hosts[1]` or `["odd key"]`; `(root)` when empty. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (IDENT.test(key) && key.length <= MAX_QUOTED) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key.length > MAX_QUOTED ? `${key.slice(0, MAX_QUOTED)}…` : key)}]`;
  }
  return out === '' ? '(root)' : out;
}

/** How to show a received value, or undefined when it must not be shown. */
export function describeValue(value: unknown): string | undefined {
  if (value === null || typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'string') {
    if (UNQUOTABLE.test(value)) return undefined;
    return value.length > MAX_QUOTED ? 'a string' : JSON.stringify(value);
  }
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return undefined;
}

function pathOf(issue: v.BaseIssue<unknown>): Array<string | number> {
  const out: Array<string | number> = [];
  for (const item of issue.path ?? []) {
    const key = (item as { key: unknown }).key;
    out.push(typeof key === 'number' ? key : String(key));
  }
  return out;
}

/**
 * One line per issue. Messages starting with `expected` get `, got <value>` when the value may be shown; other
 * messages (`unknown key`, `required`, `invalid host "…"`) already say what is wrong.
 */
export function summarizeIssues(issues: ReadonlyArray<v.BaseIssue<unknown>>): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = formatPath(pathOf(issue));
    let line = `${path}: ${issue.message}`;
    if (issue.message.startsWith('expected') && !NEVER_QUOTED.has(path)) {
      const shown = describeValue(issue.input);
      if (shown !== undefined) line += `, got ${shown}`;
    }
    if (!lines.includes(line)) lines.push(line);
  }
  return lines;
}

/** The parts of a valibot schema the unknown-key walk reads. */
interface SchemaNode {
  readonly type: string;
  readonly entries?: Readonly<Record<string, SchemaNode>>;
  readonly wrapped?: SchemaNode;
  readonly item?: SchemaNode;
  readonly key?: string;
  readonly options?: readonly SchemaNode[];
  readonly literal?: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Schemas that validate a value with a schema chosen by its shape (see {@link byShape}). */
const SHAPES = new WeakMap<object, (value: unknown) => unknown>();

/**
 * Mark `schema` as validating each value with `pick(value)`, so the unknown-key walk can follow into it. Returns
 * `schema` itself.
 */
export function byShape<T extends object>(schema: T, pick: (value: unknown) => unknown): T {
  SHAPES.set(schema, pick);
  return schema;
}

function walk(node: SchemaNode, value: unknown, path: Array<string | number>, out: string[]): void {
  const pick = SHAPES.get(node);
  if (pick) {
    walk(pick(value) as SchemaNode, value, path, out);
  } else if (node.type === 'optional' && node.wrapped) {
    walk(node.wrapped, value, path, out);
  } else if (node.type === 'array' && node.item && Array.isArray(value)) {
    const item = node.item;
    value.forEach((element, i) => {
      walk(item, element, [...path, i], out);
    });
  } else if (node.type !== 'strict_object' && node.type !== 'variant') {
    // a leaf: valibot's own issues cover it
  } else if (Array.isArray(value)) {
    // valibot's object schemas accept arrays (typeof [] === 'object'); a config section never is one.
    out.push(`${formatPath(path)}: expected an object, got an array`);
  } else if (!isRecord(value)) {
    // not an object at all: valibot reports the type
  } else if (node.type === 'strict_object' && node.entries) {
    for (const key of Object.keys(value)) {
      const child = Object.hasOwn(node.entries, key) ? node.entries[key] : undefined;
      if (child) walk(child, value[key], [...path, key], out);
      else out.push(`${formatPath([...path, key])}: unknown key`);
    }
  } else if (node.key && node.options) {
    const tag = value[node.key];
    const option = node.options.find((o) => o.entries?.[node.key as string]?.literal === tag);
    if (option) walk(option, value, path, out);
  }
}

/**
 * Structural issues valibot leaves out, in document order: every unknown key at every level (its `strictObject`
 * stops at the first unknown key of each object, and SPEC §1 asks for every issue at once) and arrays where an
 * object belongs. Walks the schema's own entries, so there is no second list of keys to keep in sync.
 */
export function structureLines(schema: unknown, value: unknown): string[] {
  const out: string[] = [];
  walk(schema as SchemaNode, value, [], out);
  return out;
}

/** True for valibot's "unknown key" issue, which {@link structureLines} reports completely and in order. */
export function isUnknownKeyIssue(issue: v.BaseIssue<unknown>): boolean {
  return issue.type === 'strict_object' && issue.expected === 'never';
}
