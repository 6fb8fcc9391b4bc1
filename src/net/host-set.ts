/**
 * A set of host entries, exact and wildcard, built once (STYLE habit 4) and looked up per CONNECT and per request:
 * the `passthrough_hosts` of a running proxy. Exact entries are one `Set` hit on `HostPort.key`; wildcards are
 * found by walking the target's suffixes ({@link wildcardSuffixKeys}), so the cost never grows with the list.
 */

import { EXACT_SPECIFICITY, type HostEntry, type WildcardHost, wildcardSuffixKeys } from './host-pattern.js';
import type { HostPort } from './host-port.js';

/**
 * Exact keys plus wildcards by suffix key. A plain `ReadonlySet<string>` of exact keys is a valid `HostSet` (no
 * wildcards), which keeps every caller that only ever needed `has(key)` unchanged.
 */
export interface HostSet {
  /** True when an exact entry has this `HostPort.key`. */
  has(key: string): boolean;
  /** Wildcard entries keyed by {@link WildcardHost.suffixKey}; absent or empty when there are none. */
  readonly wildcards?: ReadonlyMap<string, WildcardHost>;
}

/** The entry of a {@link HostSet} that covers a target, with its precedence rank (higher is more specific). */
export interface HostSetMatch {
  readonly entry: HostEntry;
  readonly specificity: number;
}

/** Build a {@link HostSet} from parsed entries; duplicates collapse. */
export function buildHostSet(entries: Iterable<HostEntry>): HostSet {
  const exact = new Set<string>();
  const wildcards = new Map<string, WildcardHost>();
  for (const e of entries) {
    if (e.kind === 'wildcard') wildcards.set(e.suffixKey, e);
    else exact.add(e.key);
  }
  return Object.freeze({ has: (key: string) => exact.has(key), wildcards, exact });
}

/**
 * The most specific entry of `set` covering `target`, or undefined: an exact entry (returned as the target itself,
 * whose key it shares) beats every wildcard, and the longest wildcard suffix beats shorter ones.
 */
export function matchHostSet(set: HostSet, target: HostPort): HostSetMatch | undefined {
  if (set.has(target.key)) return { entry: target, specificity: EXACT_SPECIFICITY };
  const wildcards = set.wildcards;
  if (wildcards === undefined || wildcards.size === 0) return undefined;
  const hit = wildcardSuffixKeys(target, (key) => wildcards.get(key));
  return hit === undefined ? undefined : { entry: hit, specificity: hit.suffix.length };
}

/** True when some entry of `set` covers `target`. */
export function hostSetCovers(set: HostSet, target: HostPort): boolean {
  return matchHostSet(set, target) !== undefined;
}
