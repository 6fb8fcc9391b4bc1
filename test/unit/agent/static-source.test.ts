import { describe, expect, it } from 'vitest';
import type { ServiceInput } from '../../../src/agent/services.js';
import type { ServiceIndex } from '../../../src/agent/source.js';
import { createStaticSource } from '../../../src/agent/static-source.js';
import { ProxyError } from '../../../src/errors.js';

const github: ServiceInput = {
  name: 'github',
  hosts: ['api.github.com'],
  auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
};

describe('createStaticSource', () => {
  it('validates services through the agent schema and indexes them', () => {
    const source = createStaticSource({ services: [github], secrets: {} });
    const index = source.services();
    expect(index.revision).toBe('static-1');
    expect(index.byHost.get('api.github.com:443')?.[0]?.name).toBe('github');
    expect(index.services[0]?.pathPrefix).toBe('/');
  });

  it('throws a TypeError listing every issue with its path', () => {
    const bad = [{ name: '', hosts: ['a.test'], auth: { type: 'bearer', secret: '' } }] as ServiceInput[];
    expect(() => createStaticSource({ services: bad, secrets: {} })).toThrow(TypeError);
    try {
      createStaticSource({ services: bad, secrets: {} });
    } catch (err) {
      expect((err as Error).message).toContain('services.0.name');
      expect((err as Error).message).toContain('services.0.auth.secret');
    }
  });

  it('returns a known secret synchronously', () => {
    const source = createStaticSource({ services: [github], secrets: { GITHUB_TOKEN: 'ghp_value' } });
    expect(source.secret('GITHUB_TOKEN')).toBe('ghp_value');
  });

  it.each(['MISSING', '__proto__', 'constructor'])(
    'rejects unknown key %j with credential_unavailable',
    async (key) => {
      const source = createStaticSource({ services: [github], secrets: { GITHUB_TOKEN: 'ghp_value' } });
      const result = source.secret(key);
      expect(result).toBeInstanceOf(Promise);
      const err = await Promise.resolve(result).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProxyError);
      expect((err as ProxyError).code).toBe('credential_unavailable');
      expect((err as ProxyError).message).not.toContain('ghp_value');
    },
  );

  it('setSecret adds, replaces and removes values', async () => {
    const source = createStaticSource({ services: [github], secrets: {} });
    source.setSecret('K', 'one');
    expect(source.secret('K')).toBe('one');
    source.setSecret('K', 'two');
    expect(source.secret('K')).toBe('two');
    source.setSecret('K', undefined);
    await expect(source.secret('K')).rejects.toMatchObject({ code: 'credential_unavailable' });
  });

  it('does not see later edits to the caller’s secrets object', () => {
    const secrets: Record<string, string> = { K: 'one' };
    const source = createStaticSource({ services: [github], secrets });
    secrets.K = 'changed';
    expect(source.secret('K')).toBe('one');
  });

  it('setServices bumps the revision and notifies subscribers until they unsubscribe', () => {
    const source = createStaticSource({ services: [github], secrets: {} });
    const seen: ServiceIndex[] = [];
    const off = source.onServices?.((index) => seen.push(index));
    source.setServices([{ ...github, hosts: ['api.github.com', 'uploads.github.com'] }]);
    expect(seen.map((i) => i.revision)).toEqual(['static-2']);
    expect(source.services().byHost.has('uploads.github.com:443')).toBe(true);
    off?.();
    source.setServices([github]);
    expect(seen.length).toBe(1);
    expect(source.services().revision).toBe('static-3');
  });

  it('a rejected setServices keeps the set in force and its revision', () => {
    const source = createStaticSource({ services: [github], secrets: {} });
    expect(() => source.setServices([{ ...github, hosts: [] }])).toThrow(/services\.0\.hosts/);
    expect(source.services().revision).toBe('static-1');
    source.setServices([github]);
    expect(source.services().revision).toBe('static-2');
  });
});
