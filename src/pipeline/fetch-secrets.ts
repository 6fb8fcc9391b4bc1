/**
 * Fetch every secret a credential needs (issue 12): in parallel, through the source's cache (SPEC §5 `secret_ttl_ms`,
 * single-flight per key), with no async hop when every value is cached. Any one failing fails the whole fetch, and the
 * request closed (503 `credential_unavailable`): a credential is never sent half-rendered.
 */
import type { CredentialSource } from '../agent/source.js';
import type { SecretValues } from './inject.js';

/** A failed fetch, naming the secret (never a value) for the operational log. */
export class SecretFetchError extends Error {
  constructor(
    readonly secretName: string,
    override readonly cause: unknown,
  ) {
    super(`secret ${JSON.stringify(secretName)} unavailable`);
  }
}

function tagged(name: string, pending: Promise<string>): Promise<string> {
  return pending.catch((err: unknown) => {
    throw new SecretFetchError(name, err);
  });
}

/**
 * The values of `names` (each listed once): the bare value for one name (the v1 types, no map allocated), else a
 * map name → value. Synchronous when every value came from the cache; otherwise a promise that rejects with a
 * {@link SecretFetchError} for the first failure (the other fetches still finish and fill the cache).
 */
export function fetchSecrets(
  source: CredentialSource,
  names: readonly string[],
): SecretValues | Promise<SecretValues> {
  if (names.length === 1) {
    const name = names[0]!;
    let pending: string | Promise<string>;
    try {
      pending = source.secret(name);
    } catch (err) {
      return Promise.reject(new SecretFetchError(name, err));
    }
    return typeof pending === 'string' ? pending : tagged(name, pending);
  }
  const values = new Map<string, string>();
  const waits: Promise<void>[] = [];
  for (const name of names) {
    let pending: string | Promise<string>;
    try {
      pending = source.secret(name);
    } catch (err) {
      // Fetches already started run on (and are cached); their outcome no longer matters to this request.
      for (const w of waits) w.catch(() => {});
      return Promise.reject(new SecretFetchError(name, err));
    }
    if (typeof pending === 'string') values.set(name, pending);
    else waits.push(tagged(name, pending).then((v) => void values.set(name, v)));
  }
  if (waits.length === 0) return values;
  return Promise.all(waits).then(() => values);
}
