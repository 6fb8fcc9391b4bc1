/**
 * Host entries that may be wildcards (issue 12, SPEC §3 host entries): `*.example.com` or `*.example.com:8443`
 * matches any name with at least one more label on that port — `a.example.com`, `a.b.example.com` — never
 * `example.com` itself and never `xexample.com`. Exact entries are plain {@link HostPort}s, so every exact lookup
 * stays one `Map`/`Set` hit on `HostPort.key`; wildcard lookup walks the target name's suffixes
 * ({@link wildcardSuffixKeys}), never the list of patterns.
 */
import { type HostPort, hostKey, normalizeHost, parseHostPort, parsePort } from './host-port.js';
import { quoteInput } from './quote.js';

/** A parsed wildcard host entry. `suffix` is normalised like a name (lower-case, punycode, no trailing dot). */
export interface WildcardHost {
  readonly kind: 'wildcard';
  /** The part after `*.`, e.g. `example.com`; always at least two labels. */
  readonly suffix: string;
  readonly port: number;
  /** The entry as written back: `*.example.com:443`. Unique per pattern, like `HostPort.key`. */
  readonly key: string;
  /** The lookup key, `example.com:443`: what {@link wildcardSuffixKeys} yields for a matching target. */
  readonly suffixKey: string;
}

/** One host entry of a service's `hosts` or of `passthrough_hosts`: exact or wildcard. */
export type HostEntry = HostPort | WildcardHost;

export type HostEntryResult =
  | { readonly ok: true; readonly value: HostEntry }
  | { readonly ok: false; readonly reason: string };

/** True for a wildcard entry. */
export function isWildcard(entry: HostEntry): entry is WildcardHost {
  return entry.kind === 'wildcard';
}

function fail(reason: string): HostEntryResult {
  return { ok: false, reason };
}

/**
 * Parse a wildcard entry (`text` starts with `*`). Refused: `*` alone, `*.com` (one label after `*.`: it would
 * cover a whole public suffix), a `*` anywhere but as the whole first label (`a.*.com`, `*x.com`, `*.*.com`),
 * and a suffix that is an IP literal or not a valid name.
 */
function parseWildcard(text: string, defaultPort: number): HostEntryResult {
  if (!text.startsWith('*.'))
    return fail(`invalid wildcard ${quoteInput(text)}: "*" must be the whole first label`);
  let rest = text.slice(2);
  let port = defaultPort;
  if (rest.startsWith('[')) return fail('a wildcard cannot cover an IP literal');
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    const parsed = parsePort(rest.slice(colon + 1));
    if (parsed === undefined)
      return fail(`invalid port ${quoteInput(rest.slice(colon + 1))} (expected 1-65535)`);
    port = parsed;
    rest = rest.slice(0, colon);
  }
  if (rest.includes('*'))
    return fail(`invalid wildcard ${quoteInput(text)}: only one leading "*." is allowed`);
  const norm = normalizeHost(rest);
  if (norm === undefined) return fail(`invalid wildcard ${quoteInput(text)}: bad name after "*."`);
  if (norm.kind !== 'name') return fail('a wildcard cannot cover an IP literal');
  if (!norm.host.includes('.')) {
    return fail(`invalid wildcard ${quoteInput(text)}: needs at least two labels after "*."`);
  }
  const suffixKey = hostKey(norm.host, port, 'name');
  return {
    ok: true,
    value: Object.freeze({ kind: 'wildcard', suffix: norm.host, port, key: `*.${suffixKey}`, suffixKey }),
  };
}

/**
 * Parse a host entry: exact (as {@link parseHostPort}) or wildcard. Entries with a `*` anywhere are wildcards and
 * follow the wildcard rules; a `*` is never a valid character of an exact name. Never throws: a config or services
 * typo must become an issue with a path, not an exception.
 */
export function parseHostEntry(text: string, defaultPort = 443): HostEntryResult {
  try {
    if (text.includes('*')) return parseWildcard(text, defaultPort);
    return parseHostPort(text, defaultPort);
  } catch {
    return fail(`invalid host ${quoteInput(text)}`);
  }
}

/**
 * The wildcard lookup keys a target can match, most specific first: for `a.b.example.com:443` that is
 * `b.example.com:443` then `example.com:443` (never `com:443`: a wildcard needs two labels after `*.`, and never
 * the name itself: a wildcard needs at least one more label). IP literals match no wildcard. Calls `visit` per
 * key and stops at the first truthy answer, which it returns — no array is built on the hot path.
 */
export function wildcardSuffixKeys<T>(
  target: HostPort,
  visit: (suffixKey: string, suffix: string) => T,
): T | undefined {
  if (target.kind !== 'name') return undefined;
  const name = target.host;
  let dot = name.indexOf('.');
  while (dot >= 0) {
    const suffix = name.slice(dot + 1);
    // A suffix without a dot is one label: no valid wildcard has it.
    if (!suffix.includes('.')) return undefined;
    const hit = visit(`${suffix}:${target.port}`, suffix);
    if (hit) return hit;
    dot = name.indexOf('.', dot + 1);
  }
  return undefined;
}

/** True when `entry` covers `target`: the same key for an exact entry, a proper subdomain on the port for a wildcard. */
export function entryMatches(entry: HostEntry, target: HostPort): boolean {
  if (entry.kind !== 'wildcard') return entry.key === target.key;
  if (target.kind !== 'name' || target.port !== entry.port) return false;
  const name = target.host;
  // At least one more label: `x.example.com` ends with `.example.com`, so `example.com` and `xexample.com` fail.
  return name.length > entry.suffix.length + 1 && name.endsWith(`.${entry.suffix}`);
}

/**
 * How specific a matching entry is, as one comparable number: exact entries beat every wildcard, and a wildcard's
 * rank is its suffix length — of two wildcards matching one name, one suffix ends the other, so longer means more
 * labels and more specific.
 */
export function specificity(entry: HostEntry): number {
  return entry.kind === 'wildcard' ? entry.suffix.length : EXACT_SPECIFICITY;
}

/** The rank of an exact entry: above any wildcard suffix (names are at most 253 characters). */
export const EXACT_SPECIFICITY = 1000;
