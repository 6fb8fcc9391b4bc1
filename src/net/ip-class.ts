/**
 * Classify an IP address for the destination guard (`upstream/destination-guard.ts`). Three tiers:
 * - `forbidden`: never dialled, whatever the config says — link-local (169.254/16, fe80::/10: where cloud metadata
 *   services live), the AWS IPv6 metadata address fd00:ec2::254, unspecified (0.0.0.0/8, ::), multicast,
 *   broadcast, reserved 240/4, and anything that does not parse (fail closed);
 * - `private`: RFC 1918, CGNAT 100.64/10 (RFC 6598), loopback, ULA fc00::/7 (RFC 4193), deprecated site-local
 *   fec0::/10, local-use NAT64 64:ff9b:1::/48 (RFC 8215) — dialled only when allowed;
 * - `public`: everything else.
 *
 * IPv6 forms that carry an IPv4 address are classified as that IPv4 address: IPv4-mapped `::ffff:0:0/96`
 * (RFC 4291 §2.5.5.2), IPv4-compatible `::/96` (deprecated, §2.5.5.1), IPv4-translated `::ffff:0:0:0/96`
 * (RFC 2765), NAT64 `64:ff9b::/96` (RFC 6052), 6to4 `2002::/16` (RFC 3056) and Teredo `2001::/32` (RFC 4380, whose
 * client address is stored inverted). Otherwise `::ffff:169.254.169.254` (or its hex form `::ffff:a9fe:a9fe`) would
 * reach the metadata service on any host that routes those forms.
 */
import { formatIpv4, parseIpv4, parseIpv6 } from './ip-bytes.js';

export type ForbiddenClass =
  | 'link_local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'invalid';
export type PrivateClass = 'loopback' | 'private' | 'cgnat' | 'ula';
export type AddressClass = ForbiddenClass | PrivateClass | 'public';
export type AddressTier = 'forbidden' | 'private' | 'public';
export type EmbeddingForm =
  | 'ipv4_mapped'
  | 'ipv4_compatible'
  | 'ipv4_translated'
  | 'nat64'
  | '6to4'
  | 'teredo';

/** What the guard knows about one address. */
export interface ClassifiedAddress {
  /** The address as resolved (or as written, for an IP-literal target). */
  readonly address: string;
  readonly class: AddressClass;
  readonly tier: AddressTier;
  /** Bytes the class was decided on (the embedded IPv4 for an embedding form); empty when invalid. */
  readonly effective: Uint8Array;
  /** The IPv4 address an IPv6 form embeds, and which form. */
  readonly embedded?: string;
  readonly form?: EmbeddingForm;
}

const TIER: Readonly<Record<AddressClass, AddressTier>> = Object.freeze({
  link_local: 'forbidden',
  metadata: 'forbidden',
  unspecified: 'forbidden',
  multicast: 'forbidden',
  broadcast: 'forbidden',
  reserved: 'forbidden',
  invalid: 'forbidden',
  loopback: 'private',
  private: 'private',
  cgnat: 'private',
  ula: 'private',
  public: 'public',
});

/** The class of 4 IPv4 bytes. */
export function classifyIpv4Bytes(b: Uint8Array): AddressClass {
  const [a = 0, x = 0, y = 0, z = 0] = b;
  if (a === 0) return 'unspecified'; // 0.0.0.0/8, "this network" (RFC 1122); Linux dials 0.0.0.0 as the local host
  if (a === 127) return 'loopback';
  if (a === 10 || (a === 172 && (x & 0xf0) === 16) || (a === 192 && x === 168)) return 'private';
  if (a === 100 && (x & 0xc0) === 64) return 'cgnat';
  if (a === 169 && x === 254) return 'link_local';
  if ((a & 0xf0) === 224) return 'multicast';
  if (a === 255 && x === 255 && y === 255 && z === 255) return 'broadcast';
  if ((a & 0xf0) === 240) return 'reserved';
  return 'public';
}

const METADATA_V6 = parseIpv6('fd00:ec2::254')!;

function zeros(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** The IPv4 address an IPv6 address embeds, if it is one of the embedding forms. */
export function embeddedIpv4(b: Uint8Array): { form: EmbeddingForm; v4: Uint8Array } | undefined {
  const tail = b.subarray(12, 16);
  if (zeros(b, 0, 10) && b[10] === 0xff && b[11] === 0xff) return { form: 'ipv4_mapped', v4: tail };
  if (zeros(b, 0, 8) && b[8] === 0xff && b[9] === 0xff && zeros(b, 10, 12))
    return { form: 'ipv4_translated', v4: tail };
  // `::` and `::1` are their own addresses, not 0.0.0.0 and 0.0.0.1.
  if (zeros(b, 0, 12) && !(zeros(b, 12, 15) && (b[15] ?? 0) <= 1))
    return { form: 'ipv4_compatible', v4: tail };
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(b, 4, 12))
    return { form: 'nat64', v4: tail };
  if (b[0] === 0x20 && b[1] === 0x02) return { form: '6to4', v4: b.subarray(2, 6) };
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0)
    return { form: 'teredo', v4: tail.map((x) => x ^ 0xff) };
  return undefined;
}

/** The class of 16 IPv6 bytes that embed no IPv4 address. */
function classifyIpv6Native(b: Uint8Array): AddressClass {
  if (zeros(b, 0, 16)) return 'unspecified';
  if (zeros(b, 0, 15) && b[15] === 1) return 'loopback';
  if (b.every((x, i) => x === METADATA_V6[i])) return 'metadata';
  const first = b[0] ?? 0;
  const second = b[1] ?? 0;
  if (first === 0xff) return 'multicast';
  if (first === 0xfe && (second & 0xc0) === 0x80) return 'link_local';
  if (first === 0xfe && (second & 0xc0) === 0xc0) return 'ula'; // fec0::/10, site-local (deprecated by RFC 3879)
  if ((first & 0xfe) === 0xfc) return 'ula';
  // 64:ff9b:1::/48 (RFC 8215): local-use NAT64; the IPv4 position depends on the operator's prefix length.
  if (first === 0 && second === 0x64 && b[2] === 0xff && b[3] === 0x9b && b[4] === 0 && b[5] === 1)
    return 'private';
  return 'public';
}

/** Classify an address given as text (what `dns.lookup` returns, or an IP-literal target). */
export function classifyAddress(address: string): ClassifiedAddress {
  const v4 = parseIpv4(address);
  if (v4 !== undefined) {
    const cls = classifyIpv4Bytes(v4);
    return { address, class: cls, tier: TIER[cls], effective: v4 };
  }
  const v6 = parseIpv6(address);
  if (v6 === undefined) return { address, class: 'invalid', tier: 'forbidden', effective: new Uint8Array(0) };
  const inner = embeddedIpv4(v6);
  if (inner !== undefined) {
    const cls = classifyIpv4Bytes(inner.v4);
    const embedded = formatIpv4(inner.v4);
    return { address, class: cls, tier: TIER[cls], effective: inner.v4, embedded, form: inner.form };
  }
  const cls = classifyIpv6Native(v6);
  return { address, class: cls, tier: TIER[cls], effective: v6 };
}
