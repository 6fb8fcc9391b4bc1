/**
 * The per-proxy cache of TLS server contexts, one per intercepted host (SPEC §4): an LRU bounded by
 * `limits.leaf_cache_size`, a single-flight map so concurrent first requests for one host mint once, and a
 * re-mint margin so no client ever sees a leaf about to expire. Nothing here is global: each proxy owns one.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { HostKind } from '../net/host-port.js';
import type { CaMaterial } from './ca-validate.js';
import { createLeafKey, type LeafKey, mintLeaf } from './mint-leaf.js';

/** An entry this close to its leaf's notAfter counts as a miss and is re-minted (mockttp does the same). */
export const REMINT_MARGIN_MS = 60 * 60 * 1000;

/** A cache of SecureContexts keyed by normalised host. */
export interface LeafCache {
  /**
   * The context for `host` (normalised by net/host-port.ts; the port does not matter for a certificate).
   * A hit returns the context itself, synchronously, so the hot path takes no async hop; a miss returns a
   * promise that rejects if minting fails (nothing is cached then).
   */
  get(host: string, kind: HostKind): SecureContext | Promise<SecureContext>;
  /** Swap the CA (SIGHUP, SPEC §8) and flush every cached leaf, so no leaf of the old CA is served again. */
  setCa(ca: CaMaterial): void;
  /** The CA currently signing leaves. */
  readonly ca: CaMaterial;
  /** Cached entries right now (for tests and metrics). */
  readonly size: number;
  /** Leaves minted since creation (for tests and metrics). */
  readonly mints: number;
  /** Lookups answered from the cache / that had to mint or wait for a mint (for metrics). */
  readonly hits: number;
  readonly misses: number;
}

/** Inputs of {@link createLeafCache}. `now` is injectable so tests can move the clock. */
export interface LeafCacheOptions {
  readonly ca: CaMaterial;
  /** Maximum cached hosts (`limits.leaf_cache_size`); at least 1. */
  readonly size: number;
  readonly now?: () => number;
}

interface Entry {
  readonly context: SecureContext;
  /** Leaf notAfter minus the re-mint margin, precomputed so a hit is one comparison. */
  readonly freshUntil: number;
}

/** Build a leaf cache for one proxy. The leaf key is created lazily, once, on the first miss. */
export function createLeafCache(opts: LeafCacheOptions): LeafCache {
  const now = opts.now ?? Date.now;
  const entries = new LRUCache<string, Entry>({ max: Math.max(1, Math.floor(opts.size)) });
  const inflight = new Map<string, Promise<SecureContext>>();
  let ca = opts.ca;
  // Bumped by setCa: a mint that started under the old CA still answers its waiters but is not cached.
  let generation = 0;
  let mints = 0;
  let hits = 0;
  let misses = 0;
  let leafKey: Promise<LeafKey> | undefined;

  function key(): Promise<LeafKey> {
    if (!leafKey) {
      leafKey = createLeafKey();
      // A failed key generation must not poison the cache forever; the next miss tries again.
      leafKey.catch(() => {
        leafKey = undefined;
      });
    }
    return leafKey;
  }

  async function mint(host: string, kind: HostKind, gen: number): Promise<SecureContext> {
    const signer = ca;
    const leafKeyNow = await key();
    const leaf = await mintLeaf(signer, leafKeyNow, host, kind, new Date(now()));
    mints += 1;
    // Built once per leaf: createSecureContext parses the PEMs, which is the costly part of a TLS context.
    const context = createSecureContext({
      key: leafKeyNow.keyPem,
      cert: leaf.certPem,
      minVersion: 'TLSv1.2',
    });
    if (gen === generation) {
      entries.set(host, { context, freshUntil: leaf.notAfter.getTime() - REMINT_MARGIN_MS });
    }
    return context;
  }

  function get(host: string, kind: HostKind): SecureContext | Promise<SecureContext> {
    const entry = entries.get(host);
    if (entry && now() < entry.freshUntil) {
      hits++;
      return entry.context;
    }
    misses++;
    const pending = inflight.get(host);
    if (pending) return pending;
    const started = mint(host, kind, generation).finally(() => {
      // Only remove our own promise: setCa may have cleared the map and a newer mint may sit there now.
      if (inflight.get(host) === started) inflight.delete(host);
    });
    inflight.set(host, started);
    return started;
  }

  return {
    get,
    setCa(next: CaMaterial): void {
      ca = next;
      generation += 1;
      entries.clear();
      inflight.clear();
    },
    get ca() {
      return ca;
    },
    get size() {
      return entries.size;
    },
    get mints() {
      return mints;
    },
    get hits() {
      return hits;
    },
    get misses() {
      return misses;
    },
  };
}
