/** Loopback checks for the agent URL (SPEC §3) and the Lambda listen address (SPEC §9). */
import { isIP } from 'node:net';

/** True for `localhost`, any 127.0.0.0/8 address and `::1` (brackets allowed). */
export function isLoopbackHost(host: string): boolean {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost' || h === 'localhost.') return true;
  const kind = isIP(h);
  if (kind === 4) return h.startsWith('127.');
  if (kind === 6) {
    if (h === '::1') return true;
    // IPv4-mapped loopback (::ffff:127.x.y.z) is loopback too.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
    return mapped !== null && (mapped[1] ?? '').startsWith('127.');
  }
  return false;
}
