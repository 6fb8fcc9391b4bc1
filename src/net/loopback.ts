/** Loopback checks for the agent URL (SPEC §3) and the Lambda listen address (SPEC §9). */
import { isIP } from 'node:net';
import { canonicalIpv6 } from './host-port.js';

/** True for `localhost`, any 127.0.0.0/8 address and `::1` (brackets allowed). */
export function isLoopbackHost(host: string): boolean {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h === 'localhost.') return true;
  const kind = isIP(h);
  if (kind === 4) return h.startsWith('127.');
  if (kind === 6) {
    // Canonical form first: `0:0::1` is `::1`, and `::ffff:127.0.0.1` becomes `::ffff:7f00:1`.
    const c = canonicalIpv6(h);
    if (c === '::1') return true;
    // IPv4-mapped loopback (::ffff:127.0.0.0/104) is loopback too: first hextet after ffff is 0x7f00–0x7fff.
    const mapped = c === undefined ? null : /^::ffff:7f([0-9a-f]{2}):[0-9a-f]{1,4}$/.exec(c);
    return mapped !== null;
  }
  return false;
}
