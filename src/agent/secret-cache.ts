/**
 * Secret values cached for `secret_ttl_ms` with single-flight fetches (SPEC §5). A fresh hit is returned
 * synchronously, so the hot path takes no async hop (STYLE habit 8); a miss returns the shared in-flight promise.
 * Failures are never cached and never served stale: the request fails closed with `credential_unavailable`.
 */
import { ProxyError } from '../errors.js';
import { AgentError } from './client.js';

/** Options for {@link createSecretCache}. */
export interface SecretCacheOptions {
  /** How long a fetched value is served from memory; 0 = fetch for every request (in-flight fetches still shared). */
  readonly ttlMs: number;
  /** Fetch one value; may reject with anything (an AgentError usually). */
  readonly fetch: (key: string) => Promise<string>;
  /** Clock in ms, injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
}

/** A TTL cache of secret values keyed by secret name. */
export interface SecretCache {
  /** The value: synchronously when fresh, else a promise shared by every caller until the fetch settles. */
  get(key: string): string | Promise<string>;
  /** Forget every value; fetches already in flight still answer their callers but are not stored. */
  clear(): void;
  /** Lookups answered from memory / that had to wait for a fetch (for metrics). */
  readonly hits: number;
  readonly misses: number;
}

interface Entry {
  readonly value: string;
  readonly expiresAt: number;
}

/** Wrap any failure as the §6 code, keeping the cause for logs; the message names the key, never a value. */
function unavailable(key: string, err: unknown): ProxyError {
  if (err instanceof ProxyError && err.code === 'credential_unavailable') return err;
  const why = err instanceof AgentError ? err.message : 'fetch failed';
  return new ProxyError('credential_unavailable', `secret "${key}" could not be fetched (${why})`, {
    cause: err,
  });
}

/** Create a secret cache over `fetch`. Nothing global: each proxy owns its cache (SPEC §11). */
export function createSecretCache(options: SecretCacheOptions): SecretCache {
  const { ttlMs, fetch } = options;
  const now = options.now ?? Date.now;
  const values = new Map<string, Entry>();
  const inflight = new Map<string, Promise<string>>();
  // Bumped by clear(): a fetch started before it must not repopulate the cache afterwards.
  let generation = 0;
  let hits = 0;
  let misses = 0;

  function start(key: string): Promise<string> {
    const gen = generation;
    const done = () => {
      if (inflight.get(key) === promise) inflight.delete(key);
    };
    // `then` defers the fetch by one microtask, so even a synchronous throw lands in the shared promise.
    const promise: Promise<string> = Promise.resolve()
      .then(() => fetch(key))
      .then(
        (value) => {
          done();
          if (ttlMs > 0 && gen === generation) values.set(key, { value, expiresAt: now() + ttlMs });
          return value;
        },
        (err: unknown) => {
          done();
          throw unavailable(key, err);
        },
      );
    inflight.set(key, promise);
    return promise;
  }

  return {
    get(key) {
      const entry = values.get(key);
      if (entry !== undefined) {
        if (now() < entry.expiresAt) {
          hits++;
          return entry.value;
        }
        values.delete(key);
      }
      misses++;
      return inflight.get(key) ?? start(key);
    },
    clear() {
      generation++;
      values.clear();
      inflight.clear();
    },
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
  };
}
