/**
 * The egress policy the destination guard applies to each resolved address (docs/configuration.md `egress`):
 * forbidden classes are always refused; private classes only when the target was an IP literal or a configured
 * `allow_private` range holds the address; public addresses pass. Pure, built once per proxy.
 */
import { type Cidr, inCidr, parseCidr } from './ip-bytes.js';
import { type ClassifiedAddress, classifyAddress } from './ip-class.js';

/** The verdict on one address, with its classification for the log line. */
export interface EgressVerdict {
  readonly allowed: boolean;
  readonly classified: ClassifiedAddress;
}

export interface EgressPolicy {
  /**
   * Decide one address. `literalTarget`: the request named an IP literal, so the host entry that allowed it was
   * that literal (wildcard entries never cover IP literals) — the operator has named the private address
   * already and no DNS answer stands between the entry and the dial.
   */
  check(address: string, literalTarget: boolean): EgressVerdict;
  /** The `allow_private` ranges in force, as written. */
  readonly allowPrivate: readonly string[];
}

/** Parse `allow_private` entries; every entry that is not a CIDR (or bare address) is listed in `invalid`. */
export function parseAllowPrivate(entries: readonly string[]): {
  readonly ranges: readonly Cidr[];
  readonly invalid: readonly string[];
} {
  const ranges: Cidr[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr === undefined) invalid.push(entry);
    else ranges.push(cidr);
  }
  return { ranges, invalid };
}

/**
 * Build the policy. Throws a TypeError naming the bad entry (the library's `startProxy` surfaces it; the config
 * loader has already refused it with exit 2).
 */
export function createEgressPolicy(allowPrivate: readonly string[] = []): EgressPolicy {
  const { ranges, invalid } = parseAllowPrivate(allowPrivate);
  if (invalid.length > 0)
    throw new TypeError(`egress.allow_private: invalid CIDR "${invalid[0]}" (expected e.g. 10.0.0.0/8)`);
  return Object.freeze({
    allowPrivate: Object.freeze([...allowPrivate]),
    check(address: string, literalTarget: boolean): EgressVerdict {
      const classified = classifyAddress(address);
      if (classified.tier === 'public') return { allowed: true, classified };
      if (classified.tier === 'forbidden') return { allowed: false, classified };
      // An embedded private IPv4 is matched as that IPv4: `10.0.0.0/8` also admits `::ffff:10.1.2.3`.
      const allowed = literalTarget || ranges.some((r) => inCidr(classified.effective, r));
      return { allowed, classified };
    },
  });
}
