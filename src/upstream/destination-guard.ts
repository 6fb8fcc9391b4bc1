/**
 * The destination guard (docs/configuration.md `egress`, SECURITY.md): before any direct upstream dial, resolve the
 * name once, classify every address it resolves to, refuse with `destination_not_allowed` if any is not allowed,
 * and hand the dialler exactly the addresses that were checked — so a DNS answer that changes between the check
 * and the connect (rebinding) cannot redirect the dial. SNI and `Host` stay the name; only the TCP peer is pinned.
 *
 * Every direct dial goes through here: `dialTls` and `dialTcp` take a `guard` and call {@link guardedConnect}.
 * The hop to the upstream proxy is exempt (the operator configured it, and it resolves the target itself: the
 * guard cannot see past it).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { ProxyError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { EgressPolicy } from '../net/egress-policy.js';
import type { HostPort } from '../net/host-port.js';
import type { ClassifiedAddress } from '../net/ip-class.js';
import { toUpstreamError } from './error-codes.js';

/** Addresses that passed the policy for one dial. */
export interface CheckedDestination {
  readonly target: HostPort;
  readonly addresses: readonly LookupAddress[];
}

/** Where a `net.connect`/`tls.connect` must go to reach only the checked addresses. */
export interface ConnectTo {
  readonly host: string;
  readonly lookup?: LookupFunction;
}

export interface DestinationGuard {
  /**
   * Resolve `target` (one lookup; none for an IP literal) and check every address. Rejects with
   * `destination_not_allowed` (and logs the classified address), or `upstream_error` when the name does not
   * resolve or the lookup outlives `timeoutMs`.
   */
  check(target: HostPort, timeoutMs: number): Promise<CheckedDestination>;
  readonly policy: EgressPolicy;
}

export interface DestinationGuardOptions {
  readonly policy: EgressPolicy;
  /** DNS override (tests); default `dns.lookup`, as `net.connect` would use. */
  readonly lookup?: LookupFunction;
  readonly logger?: Logger;
}

function family(address: string): number {
  return address.includes(':') ? 6 : 4;
}

function resolveAll(lookup: LookupFunction, host: string, timeoutMs: number): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new ProxyError('upstream_error', 'upstream name lookup timed out')),
      timeoutMs,
    );
    lookup(host, { all: true }, (err, result) => {
      clearTimeout(timer);
      if (err) return reject(toUpstreamError(err, 'upstream name lookup failed'));
      const list = typeof result === 'string' ? [{ address: result, family: family(result) }] : result;
      if (list.length === 0) return reject(new ProxyError('upstream_error', 'upstream name has no address'));
      resolve(list.map((a) => ({ address: a.address, family: a.family })));
    });
  });
}

/** The log fields for a refused address: the classified address, its class, any embedded IPv4. */
function refusalFields(target: HostPort, c: ClassifiedAddress, count: number): Record<string, unknown> {
  return {
    host: target.host,
    port: target.port,
    address: c.address,
    class: c.class,
    ...(c.embedded === undefined ? {} : { embedded: c.embedded, form: c.form }),
    addresses: count,
  };
}

/** Build the guard a proxy's pool (and any other direct dialler) uses. */
export function createDestinationGuard(opts: DestinationGuardOptions): DestinationGuard {
  const lookup = opts.lookup ?? (dnsLookup as unknown as LookupFunction);
  const { policy, logger } = opts;
  return {
    policy,
    async check(target, timeoutMs) {
      const literal = target.kind !== 'name';
      const addresses = literal
        ? [{ address: target.host, family: family(target.host) }]
        : await resolveAll(lookup, target.host, timeoutMs);
      // Refuse if ANY address is refused: the OS or Happy Eyeballs may pick any of them, and a name that mixes a
      // public and a metadata address is exactly the attack this guard exists for.
      for (const a of addresses) {
        const verdict = policy.check(a.address, literal);
        if (!verdict.allowed) {
          logger?.warn(
            refusalFields(target, verdict.classified, addresses.length),
            'destination not allowed',
          );
          throw new ProxyError('destination_not_allowed', 'the destination address is not allowed');
        }
      }
      return { target, addresses };
    },
  };
}

/**
 * Connect options that reach only `dest`'s checked addresses: the address itself when there is one; with several,
 * the name plus a `lookup` that replays the checked list, so Node's Happy Eyeballs (`autoSelectFamily`) still
 * falls back between them without asking DNS again.
 */
export function connectTo(dest: CheckedDestination): ConnectTo {
  const [first, ...more] = dest.addresses;
  if (first !== undefined && more.length === 0) return { host: first.address };
  const list = dest.addresses.map((a) => ({ ...a }));
  return {
    host: dest.target.host,
    lookup: (_host, options, callback) => {
      if (options.all) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    },
  };
}

/**
 * Run `dial` on the checked destination with what is left of one connect budget (the lookup counts against it).
 * `guard === null` is the exempt case (the upstream proxy hop): `dial` gets the name as is.
 */
export async function guardedConnect<T>(
  guard: DestinationGuard | null,
  target: HostPort,
  timeoutMs: number,
  dial: (to: ConnectTo | undefined, timeoutMs: number) => Promise<T>,
): Promise<T> {
  if (guard === null) return dial(undefined, timeoutMs);
  const started = performance.now();
  const dest = await guard.check(target, timeoutMs);
  return dial(connectTo(dest), Math.max(1, timeoutMs - (performance.now() - started)));
}
