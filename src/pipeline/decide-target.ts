/**
 * What to do with a CONNECT target (SPEC §6 "CONNECT"): terminate TLS for a service host, tunnel a passthrough
 * host blind, refuse everything else with 403 `host_not_allowed`.
 */
import type { ServiceIndex } from '../agent/source.js';
import type { HostPort } from '../net/host-port.js';
import { deny, type StepDenied } from './types.js';

/**
 * The decision on a CONNECT target, a small union so the caller can switch on it without unwrapping:
 * - `'intercept'`: mint a leaf, terminate TLS and run each request through the pipeline;
 * - `'tunnel'`: answer `200 Connection Established` and copy bytes both ways without looking at them;
 * - a {@link StepDenied} (`{ ok: false, code: 'host_not_allowed' }`): refuse with that code.
 */
export type TargetDecision = 'intercept' | 'tunnel' | StepDenied;

/**
 * Decide a CONNECT target. Allocates nothing: the strings are literals and the denial is interned.
 *
 * Service hosts win over passthrough (SPEC §6): a host both named by a service and listed as passthrough is
 * intercepted, so a credential-bearing service can never be bypassed by also listing its host as passthrough;
 * requests there that no service path matches are then forwarded unchanged by `matchService`.
 *
 * @param target the normalised CONNECT target; lookups use `target.key` (`host:port`, IPv6 in brackets).
 * @param services the index in force now.
 * @param passthrough `HostPort.key`s of the configured passthrough hosts, parsed once at startup.
 */
export function decideTarget(
  target: HostPort,
  services: ServiceIndex,
  passthrough: ReadonlySet<string>,
): TargetDecision {
  const named = services.byHost.get(target.key);
  if (named !== undefined && named.length > 0) return 'intercept';
  if (passthrough.has(target.key)) return 'tunnel';
  return deny('host_not_allowed');
}
