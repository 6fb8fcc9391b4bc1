import { describe, expect, it } from 'vitest';
import { AgentError } from '../../../src/agent/client.js';
import { createSecretCache } from '../../../src/agent/secret-cache.js';
import { ProxyError } from '../../../src/errors.js';

/** A fetch that counts calls and can be held open or made to fail. */
function fakeFetch() {
  const calls: string[] = [];
  let failWith: unknown;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  return {
    calls,
    fail(err: unknown) {
      failWith = err;
    },
    hold() {
      gate = new Promise((r) => {
        open = r;
      });
    },
    release() {
      open?.();
      gate = undefined;
    },
    fetch: async (key: string) => {
      calls.push(key);
      if (gate) await gate;
      if (failWith !== undefined) throw failWith;
      return `value-of-${key}-${calls.length}`;
    },
  };
}

describe('createSecretCache', () => {
  it('returns a fresh hit synchronously and fetches again only after the TTL', async () => {
    let t = 1000;
    const f = fakeFetch();
    const cache = createSecretCache({ ttlMs: 500, fetch: f.fetch, now: () => t });
    const first = cache.get('K');
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe('value-of-K-1');
    t += 499;
    expect(cache.get('K')).toBe('value-of-K-1');
    expect(f.calls).toEqual(['K']);
    t += 1;
    expect(await cache.get('K')).toBe('value-of-K-2');
    expect(f.calls).toEqual(['K', 'K']);
  });

  it('keeps keys apart', async () => {
    const f = fakeFetch();
    const cache = createSecretCache({ ttlMs: 60_000, fetch: f.fetch, now: () => 0 });
    expect(await cache.get('A')).toBe('value-of-A-1');
    expect(await cache.get('B')).toBe('value-of-B-2');
    expect(cache.get('A')).toBe('value-of-A-1');
  });

  it.each([0, 60_000])('shares one fetch among 10 concurrent misses (ttl %i)', async (ttlMs) => {
    const f = fakeFetch();
    f.hold();
    const cache = createSecretCache({ ttlMs, fetch: f.fetch, now: () => 0 });
    const pending = Array.from({ length: 10 }, () => cache.get('K'));
    f.release();
    const values = await Promise.all(pending);
    expect(new Set(values)).toEqual(new Set(['value-of-K-1']));
    expect(f.calls).toEqual(['K']);
  });

  it('with ttl 0 fetches on every request once the previous fetch settled', async () => {
    const f = fakeFetch();
    const cache = createSecretCache({ ttlMs: 0, fetch: f.fetch, now: () => 0 });
    expect(await cache.get('K')).toBe('value-of-K-1');
    expect(await cache.get('K')).toBe('value-of-K-2');
    expect(await cache.get('K')).toBe('value-of-K-3');
    expect(f.calls.length).toBe(3);
  });

  it.each([
    ['not_found', new AgentError('not_found', '/v1/secrets/K: agent answered 404', { status: 404 })],
    ['unauthorized', new AgentError('unauthorized', '/v1/secrets/K: agent answered 401', { status: 401 })],
    ['a plain error', new Error('boom')],
    ['a non-error', 'just a string'],
  ])('wraps %s as credential_unavailable, keeping the cause', async (_label, err) => {
    const f = fakeFetch();
    f.fail(err);
    const cache = createSecretCache({ ttlMs: 60_000, fetch: f.fetch, now: () => 0 });
    const rejection = await Promise.resolve(cache.get('K')).catch((e: unknown) => e);
    expect(rejection).toBeInstanceOf(ProxyError);
    expect((rejection as ProxyError).code).toBe('credential_unavailable');
    expect((rejection as ProxyError).cause).toBe(err);
    expect((rejection as ProxyError).message).toContain('"K"');
  });

  it('does not cache failures: the next get fetches again', async () => {
    const f = fakeFetch();
    f.fail(new AgentError('unavailable', 'x: agent answered 503'));
    const cache = createSecretCache({ ttlMs: 60_000, fetch: f.fetch, now: () => 0 });
    await expect(cache.get('K')).rejects.toBeInstanceOf(ProxyError);
    f.fail(undefined);
    expect(await cache.get('K')).toBe('value-of-K-2');
    expect(cache.get('K')).toBe('value-of-K-2');
  });

  it('turns a synchronous throw in fetch into a rejection and does not wedge the key', async () => {
    let n = 0;
    const cache = createSecretCache({
      ttlMs: 0,
      now: () => 0,
      fetch: (key) => {
        n++;
        if (n === 1) throw new Error('sync');
        return Promise.resolve(`v-${key}`);
      },
    });
    await expect(cache.get('K')).rejects.toMatchObject({ code: 'credential_unavailable' });
    expect(await cache.get('K')).toBe('v-K');
  });

  it('clear() drops values, and a fetch in flight during clear() is not stored', async () => {
    const f = fakeFetch();
    const cache = createSecretCache({ ttlMs: 60_000, fetch: f.fetch, now: () => 0 });
    await cache.get('K');
    cache.clear();
    f.hold();
    const pending = cache.get('K');
    cache.clear();
    f.release();
    expect(await pending).toBe('value-of-K-2');
    expect(await cache.get('K')).toBe('value-of-K-3');
  });
});
