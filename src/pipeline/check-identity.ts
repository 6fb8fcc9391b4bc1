/**
 * May this workload use this service (issue 12 "Per-workload identity")? A service's `identities` list names who
 * may: exact names or globs. Checked after the match (prepare.ts), so an identity never changes which service a
 * request matches — a restricted service is refused, never silently swapped for another one's credential.
 */
import type { Service } from '../agent/source.js';
import { deny, OK_TRUE, type Step } from './types.js';

/**
 * Glob match, case-sensitive: `*` matches any run of characters (none included); every other character matches
 * itself. Iterative with one backtrack point (the last `*`), so it runs in O(pattern × name) at worst and never
 * recurses or compiles a RegExp on the request path.
 */
export function globMatch(pattern: string, name: string): boolean {
  let p = 0;
  let n = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === name[n]) {
      p++;
      n++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * True when `identity` may use `service`: a service without an `identities` list is open to every admitted
 * workload; with one, the identity must match an entry. An anonymous connection (identity null: no username, or
 * auth waived without a provable identity) matches no entry, not even `*`. An empty list admits no one.
 */
export function identityAllowed(service: Service, identity: string | null): boolean {
  const allowed = service.identities;
  if (allowed === undefined) return true;
  if (identity === null) return false;
  for (const pattern of allowed) if (globMatch(pattern, identity)) return true;
  return false;
}

/** {@link identityAllowed} as a pipeline step: 403 `identity_not_allowed` when refused. */
export function checkIdentity(service: Service, identity: string | null): Step<true> {
  return identityAllowed(service, identity) ? OK_TRUE : deny('identity_not_allowed');
}
