/**
 * IP addresses as bytes, for the destination guard (`net/ip-class.ts`) and `egress.allow_private` CIDRs. Strict
 * text forms only: dotted-decimal IPv4 (what `net.isIP` accepts) and RFC 4291 §2.2 IPv6, including `::` and a
 * dotted-quad tail. Zone ids (`fe80::1%eth0`) are not addresses of a remote host and do not parse.
 */
import { isIP } from 'node:net';

/** Parse dotted-decimal IPv4 to 4 bytes, or undefined. */
export function parseIpv4(text: string): Uint8Array | undefined {
  if (isIP(text) !== 4) return undefined;
  return Uint8Array.from(text.split('.'), Number);
}

const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function parseGroups(part: string, out: number[]): boolean {
  if (part === '') return true;
  for (const group of part.split(':')) {
    if (!HEX_GROUP.test(group)) return false;
    out.push(Number.parseInt(group, 16));
  }
  return true;
}

/** Parse an IPv6 address (no brackets) to 16 bytes, or undefined. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (isIP(text) !== 6) return undefined;
  let body = text;
  let tail: Uint8Array | undefined;
  // A dotted-quad tail (`::ffff:1.2.3.4`) stands for the last two groups.
  const lastColon = body.lastIndexOf(':');
  if (body.indexOf('.', lastColon) >= 0) {
    tail = parseIpv4(body.slice(lastColon + 1));
    if (tail === undefined) return undefined;
    body = body.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `64:ff9b::1.2.3.4` leaves `64:ff9b::`; `1:2:3:4:5:6:1.2.3.4` leaves a trailing `:`.
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const want = tail === undefined ? 8 : 6;
  const head: number[] = [];
  const rest: number[] = [];
  const gap = body.indexOf('::');
  if (gap >= 0) {
    if (!parseGroups(body.slice(0, gap), head) || !parseGroups(body.slice(gap + 2), rest)) return undefined;
    if (head.length + rest.length >= want) return undefined;
  } else {
    if (!parseGroups(body, head) || head.length !== want) return undefined;
  }
  const groups = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  if (tail !== undefined) bytes.set(tail, 12);
  return bytes;
}

/** Parse either family: 4 bytes for IPv4, 16 for IPv6. */
export function parseIp(text: string): Uint8Array | undefined {
  return parseIpv4(text) ?? parseIpv6(text);
}

/** Dotted-decimal text of 4 bytes. */
export function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** True when the first `prefix` bits of `a` and `b` (same length) are equal. */
export function samePrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  if (a.length !== b.length) return false;
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const bits = prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}

/** A CIDR range: network bytes (4 or 16) and prefix length. */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** As written in the config, for messages. */
  readonly text: string;
}

/**
 * Parse `a.b.c.d/n` or `v6/n`; a bare address is the single-address range (/32 or /128). Host bits set below
 * the prefix (`10.1.2.3/8`) are refused: such an entry is almost always a typo for a different range.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const bytes = parseIp(addr);
  if (bytes === undefined) return undefined;
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) return undefined;
    prefix = Number(p);
  }
  const network = bytes.map((b, i) => {
    const keep = Math.min(8, Math.max(0, prefix - 8 * i));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  if (!network.every((b, i) => b === bytes[i])) return undefined;
  return Object.freeze({ bytes, prefix, text });
}

/** True when `address` (bytes) lies in `cidr`. Families never match each other. */
export function inCidr(address: Uint8Array, cidr: Cidr): boolean {
  return samePrefix(address, cidr.bytes, cidr.prefix);
}
