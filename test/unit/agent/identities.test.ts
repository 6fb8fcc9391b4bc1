/**
 * The identities document (`/v1/identities`, issue 12) and a service's `identities` field: what validates, what is
 * rejected with its path, and that a service without the field stays open.
 */
import { describe, expect, it } from 'vitest';
import { parseIdentitiesDoc } from '../../../src/agent/identities.js';
import { parseServicesDoc } from '../../../src/agent/services.js';

const H = 'a'.repeat(64);

describe('parseIdentitiesDoc', () => {
  it('builds a digest table by name; hex is case-insensitive', () => {
    const r = parseIdentitiesDoc([
      { name: 'ci-bot', token_sha256: H },
      { name: 'Agent.7', token_sha256: 'AB'.repeat(32) },
    ]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect([...r.table.byName.keys()]).toEqual(['ci-bot', 'Agent.7']);
    expect(r.table.byName.get('Agent.7')).toEqual(Buffer.alloc(32, 0xab));
    expect(Object.isFrozen(r.table)).toBe(true);
  });

  it.each([
    ['not an array', { identities: [] }, '(root)'],
    ['empty name', [{ name: '', token_sha256: H }], '0.name'],
    ['colon in name', [{ name: 'a:b', token_sha256: H }], '0.name'],
    ['space in name', [{ name: 'a b', token_sha256: H }], '0.name'],
    ['star in name', [{ name: 'a*', token_sha256: H }], '0.name'],
    ['short digest', [{ name: 'a', token_sha256: 'ab' }], '0.token_sha256'],
    ['non-hex digest', [{ name: 'a', token_sha256: 'z'.repeat(64) }], '0.token_sha256'],
    ['a token instead of a digest', [{ name: 'a', token: 'x' }], '0.token'],
    [
      'duplicate names',
      [
        { name: 'a', token_sha256: H },
        { name: 'a', token_sha256: H },
      ],
      '1.name',
    ],
  ])('%s is rejected at %s', (_label, raw, path) => {
    const r = parseIdentitiesDoc(raw);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.some((i) => i.startsWith(`${path}:`))).toBe(true);
  });

  it('an empty list is valid: identities served, none defined (no one authenticates)', () => {
    const r = parseIdentitiesDoc([]);
    expect(r.ok && r.table.byName.size).toBe(0);
  });
});

describe('service `identities`', () => {
  const svc = (extra: Record<string, unknown>) => ({
    revision: 'r',
    services: [{ name: 's', hosts: ['a.test'], auth: { type: 'bearer', secret: 'K' }, ...extra }],
  });

  it('is kept as written (names and globs) and frozen; absent stays absent', () => {
    const r = parseServicesDoc(svc({ identities: ['ci-bot', 'agent-*', '*'] }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const s = r.index.services[0]!;
    expect(s.identities).toEqual(['ci-bot', 'agent-*', '*']);
    expect(Object.isFrozen(s.identities)).toBe(true);
    const open = parseServicesDoc(svc({}));
    expect(open.ok && 'identities' in open.index.services[0]!).toBe(false);
  });

  it.each([
    ['not an array', 'ci-bot', 'services.0.identities'],
    ['empty entry', [''], 'services.0.identities.0'],
    ['colon', ['a:b'], 'services.0.identities.0'],
    ['space', ['ok', 'a b'], 'services.0.identities.1'],
  ])('%s is rejected', (_label, identities, path) => {
    const r = parseServicesDoc(svc({ identities }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.some((i) => i.startsWith(`${path}:`))).toBe(true);
  });
});
