/**
 * Fetching a credential's secrets (issue 12): in parallel, synchronously when cached, failing closed with the name.
 */
import { describe, expect, it } from 'vitest';
import type { CredentialSource } from '../../../src/agent/source.js';
import { fetchSecrets, SecretFetchError } from '../../../src/pipeline/fetch-secrets.js';

function source(secret: (key: string) => string | Promise<string>): CredentialSource {
  return { services: () => ({ revision: 'r', services: [], byHost: new Map() }), secret };
}

describe('fetchSecrets', () => {
  it('one name: the bare value, synchronously from the cache', () => {
    expect(
      fetchSecrets(
        source(() => 'v'),
        ['A'],
      ),
    ).toBe('v');
  });

  it('several cached names: a map, synchronously', () => {
    const got = fetchSecrets(
      source((k) => `v-${k}`),
      ['A', 'B'],
    );
    expect(got).toEqual(
      new Map([
        ['A', 'v-A'],
        ['B', 'v-B'],
      ]),
    );
  });

  it('fetches in parallel: every fetch is started before any is awaited', async () => {
    // Each value resolves only once all three were requested: a serial fetch would never finish.
    const asked: string[] = [];
    const release: (() => void)[] = [];
    const all = new Promise<void>((resolve) => release.push(resolve));
    const src = source((k) => {
      asked.push(k);
      if (asked.length === 3) release[0]!();
      return all.then(() => `v-${k}`);
    });
    const got = await fetchSecrets(src, ['A', 'B', 'C']);
    expect(asked).toEqual(['A', 'B', 'C']);
    expect(got).toEqual(
      new Map([
        ['A', 'v-A'],
        ['B', 'v-B'],
        ['C', 'v-C'],
      ]),
    );
  });

  it('any one missing fails the whole fetch, naming the secret', async () => {
    const src = source((k) => (k === 'B' ? Promise.reject(new Error('404')) : Promise.resolve('v')));
    const err = await Promise.resolve(fetchSecrets(src, ['A', 'B'])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretFetchError);
    expect((err as SecretFetchError).secretName).toBe('B');
  });

  it('a source that throws synchronously is a rejection too', async () => {
    const src = source(() => {
      throw new Error('boom');
    });
    await expect(Promise.resolve(fetchSecrets(src, ['A', 'B']))).rejects.toBeInstanceOf(SecretFetchError);
    await expect(Promise.resolve(fetchSecrets(src, ['A']))).rejects.toBeInstanceOf(SecretFetchError);
  });
});
