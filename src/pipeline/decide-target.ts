/**
 * What to do with a CONNECT target (SPEC §6 "CONNECT"), and with an `http://` target before forwarding it: terminate
 * TLS for a service host, tunnel a passthrough host blind, refuse everything else with 403 `host_not_allowed`.
 *
 * Precedence across the two lists (issue 12, docs/configuration.md "Wildcard hosts"): the most specific entry wins —
 * an exact `host:port` beats every wildcard, a longer wildcard suffix beats a shorter one — and at equal specificity
 * the service wins (SPEC §6 "Service hosts win over passthrough"). So an exact passthrough entry carves its host out
 * of a wildcard service (tunnel), and an exact service host is intercepted whatever wildcard passthrough covers it.
 */
import type { ServiceIndex } from '../agent/source.js';
import { EXACT_SPECIFICITY, wildcardSuffixKeys } from '../net/host-pattern.js';
import type { HostPort } from '../net/host-port.js';
import { type HostSet, matchHostSet } from '../net/host-set.js';
import { deny, type StepDenied } from './types.js';

/**
 * The decision on a CONNECT target, a small union so the caller can switch on it without unwrapping:
 * - `'intercept'`: mint a leaf, terminate TLS and run each request through the pipeline;
 * - `'tunnel'`: answer `200 Connection Established` and copy bytes both ways without looking at them;
 * - a {@link StepDenied} (`{ ok: false, code: 'host_not_allowed' }`): refuse with that code.
 */
export type TargetDecision = 'intercept' | 'tunnel' | StepDenied;

/**
 * How specific the most specific service host entry covering `target` is ({@link EXACT_SPECIFICITY} for an exact
 * entry, the suffix length for a wildcard), or -1 when no service names it. Allocates nothing for exact hits.
 */
export function serviceHostSpecificity(services: ServiceIndex, target: HostPort): number {
  const named = services.byHost.get(target.key);
  if (named !== undefined && named.length > 0) return EXACT_SPECIFICITY;
  const wild = services.byWildcard;
  if (wild === undefined || wild.size === 0) return -1;
  const suffix = wildcardSuffixKeys(target, (key, s) => ((wild.get(key)?.length ?? 0) > 0 ? s : undefined));
  return suffix === undefined ? -1 : suffix.length;
}

/**
 * Decide a target. Exact hits allocate nothing: the strings are literals and the denial is interned.
 *
 * A host both named by a service and listed as passthrough at the same specificity is intercepted, so a
 * credential-bearing service can never be bypassed by also listing its host as passthrough; requests there that no
 * service path matches are then forwarded unchanged by `matchService`.
 *
 * @param target the normalised target; exact lookups use `target.key` (`host:port`, IPv6 in brackets).
 * @param services the index in force now.
 * @param passthrough the configured passthrough hosts, parsed once at startup.
 */
export function decideTarget(target: HostPort, services: ServiceIndex, passthrough: HostSet): TargetDecision {
  const named = services.byHost.get(target.key);
  if (named !== undefined && named.length > 0) return 'intercept';
  // An exact passthrough entry outranks any wildcard service, and no exact service names this target.
  if (passthrough.has(target.key)) return 'tunnel';
  const service = serviceHostSpecificity(services, target);
  const pass = matchHostSet(passthrough, target)?.specificity ?? -1;
  if (service < 0 && pass < 0) return deny('host_not_allowed');
  return service >= pass ? 'intercept' : 'tunnel';
}
