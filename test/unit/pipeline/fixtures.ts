/**
 * Builders for the pipeline unit tests: host entries, services and a ServiceIndex built the way the agent's
 * index is specified (SPEC §5, `agent/source.ts`), without depending on `agent/services.ts`.
 */
import type { Service, ServiceAuth, ServiceIndex } from '../../../src/agent/source.js';
import { type HostEntry, parseHostEntry } from '../../../src/net/host-pattern.js';
import { type HostPort, parseHostPort } from '../../../src/net/host-port.js';

/** Parse a host entry (port 443 implied) or throw: test input is always meant to be valid. */
export function hp(text: string): HostPort {
  const r = parseHostPort(text, 443);
  if (!r.ok) throw new Error(`bad test host ${text}: ${r.reason}`);
  return r.value;
}

/** Parse a host entry that may be a wildcard (`*.example.com[:port]`), or throw. */
export function he(text: string): HostEntry {
  const r = parseHostEntry(text);
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
  return { name, hosts: hosts.map(he), pathPrefix, auth };
}

/** Index services by `HostPort.key` (exact) and `WildcardHost.suffixKey` (wildcards), in definition order. */
export function indexOf(services: readonly Service[]): ServiceIndex {
  const byHost = new Map<string, Service[]>();
  const byWildcard = new Map<string, Service[]>();
  for (const s of services) {
    for (const h of s.hosts) {
      const [map, key] = h.kind === 'wildcard' ? [byWildcard, h.suffixKey] : [byHost, h.key];
      const list = map.get(key) ?? [];
      list.push(s);
      map.set(key, list);
    }
  }
  return { revision: 'test', services, byHost, byWildcard };
}
