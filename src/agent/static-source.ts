/**
 * An in-memory {@link CredentialSource} for the library and tests (SPEC §11). Services go through the same schema
 * as the agent's documents, so a static setup cannot express what the agent could not.
 */
import { ProxyError } from '../errors.js';
import { type IdentityInput, type IdentityTable, parseIdentitiesDoc } from './identities.js';
import { parseServiceList, type ServiceInput } from './services.js';
import type { CredentialSource, ServiceIndex } from './source.js';

/** Options for {@link createStaticSource}. */
export interface StaticSourceOptions {
  /** Services in the agent's wire format (SPEC §5). */
  readonly services: readonly ServiceInput[];
  /** Secret values by key. */
  readonly secrets: Readonly<Record<string, string>>;
  /**
   * Workload identities in the agent's `/v1/identities` format (issue 12). Absent: every username authenticates
   * with the proxy's one workload token.
   */
  readonly identities?: readonly IdentityInput[];
}

/** A static source whose services and secrets can be changed while a proxy runs. */
export interface StaticSource extends CredentialSource {
  /** Replace the services (validated; throws TypeError listing every issue) and notify subscribers. */
  setServices(services: readonly ServiceInput[]): void;
  /** Replace the identities (validated; throws TypeError), or drop them with `undefined`. */
  setIdentities(identities: readonly IdentityInput[] | undefined): void;
  /** Set a secret, or remove it with `undefined`. */
  setSecret(key: string, value: string | undefined): void;
}

function validate(services: readonly ServiceInput[], revision: string): ServiceIndex {
  const parsed = parseServiceList(services, revision);
  if (!parsed.ok) throw new TypeError(`invalid services:\n  ${parsed.issues.join('\n  ')}`);
  return parsed.index;
}

function validateIdentities(list: readonly IdentityInput[] | undefined): IdentityTable | undefined {
  if (list === undefined) return undefined;
  const parsed = parseIdentitiesDoc(list);
  if (!parsed.ok) throw new TypeError(`invalid identities:\n  ${parsed.issues.join('\n  ')}`);
  return parsed.table;
}

/**
 * Create a static source. Revisions are `static-1`, `static-2`, … one per `setServices`. A known secret is
 * returned synchronously; an unknown one rejects with `credential_unavailable`, as a failed agent fetch would.
 */
export function createStaticSource(options: StaticSourceOptions): StaticSource {
  let version = 1;
  let index = validate(options.services, `static-${version}`);
  let identities = validateIdentities(options.identities);
  // A Map, not the caller's object: keys like `__proto__` stay plain data and later edits to it do not leak in.
  const secrets = new Map<string, string>(Object.entries(options.secrets));
  const listeners = new Set<(index: ServiceIndex) => void>();

  return {
    services: () => index,
    identities: () => identities,
    secret(key) {
      const value = secrets.get(key);
      if (value !== undefined) return value;
      return Promise.reject(new ProxyError('credential_unavailable', `secret "${key}" is not defined`));
    },
    async refresh() {},
    onServices(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
    },
    setServices(services) {
      index = validate(services, `static-${version + 1}`);
      version++;
      for (const listener of listeners) listener(index);
    },
    setIdentities(list) {
      identities = validateIdentities(list);
    },
    setSecret(key, value) {
      if (value === undefined) secrets.delete(key);
      else secrets.set(key, value);
    },
  };
}
