/** Shared by the upstream tests (dial, tunnel-dial, connect-via-proxy, pool): parse a target, catch a rejection. */
import { expect } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { type HostPort, parseHostPort } from '../../../src/net/host-port.js';

/** Parse `host:port` (no default port) or throw: test inputs are always valid. */
export function hp(text: string): HostPort {
  const r = parseHostPort(text, undefined);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

/** Await `p`, expecting it to reject with a ProxyError, and return that error for the test to inspect. */
export async function rejection(p: Promise<unknown>): Promise<ProxyError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    return err as ProxyError;
  }
  throw new Error('expected a rejection');
}
