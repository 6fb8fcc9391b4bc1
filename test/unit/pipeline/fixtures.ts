/**
 * Builders for the pipeline unit tests: host entries, services and a ServiceIndex built the way the agent's
 * index is specified (SPEC §5, `agent/source.ts`), without depending on `agent/services.ts`.
 */
import type { Service, ServiceAuth, ServiceIndex } from '../../../src/agent/source.js';
import { type HostPort, parseHostPort } from '../../../src/net/host-port.js';

/** Parse a host entry (port 443 implied) or throw: test input is always meant to be valid. */
export function hp(text: string): HostPort {
  const r = parseHostPort(text, 443);
  if (!r.ok) throw new Error(`bad test host ${text}: ${r.reason}`);
  return r.value;
}

export const BEARER: ServiceAuth = { type: 'bearer', secret: 'TOKEN' };

/** A service named `name` for `hosts`, with `pathPrefix` (default `/`) and bearer auth unless given. */
export function svc(
  name: string,
  hosts: readonly string[],
  pathPrefix = '/',
  auth: ServiceAuth = BEARER,
): Service {
  return { name, hosts: hosts.map(hp), pathPrefix, auth };
}

/** Index services by `HostPort.key`, in definition order. */
export function indexOf(services: readonly Service[]): ServiceIndex {
  const byHost = new Map<string, Service[]>();
  for (const s of services) {
    for (const h of s.hosts) {
      const list = byHost.get(h.key) ?? [];
      list.push(s);
      byHost.set(h.key, list);
    }
  }
  return { revision: 'test', services, byHost };
}
