import { describe, expect, it } from 'vitest';
import { buildServiceIndex, parseServiceList, parseServicesDoc } from '../../../src/agent/services.js';
import type { Service } from '../../../src/agent/source.js';

const good = {
  name: 'github',
  hosts: ['api.github.com'],
  path_prefix: '/',
  auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
};

function doc(service: Record<string, unknown>, extra: Record<string, unknown>[] = []) {
  return { revision: 'r1', services: [service, ...extra] };
}

function issuesOf(raw: unknown): string[] {
  const result = parseServicesDoc(raw);
  if (result.ok) throw new Error('expected the document to be rejected');
  return result.issues;
}

describe('parseServicesDoc: rejections carry the field path', () => {
  it.each([
    ['not an object', 'nope', '(root)'],
    ['no revision', { services: [] }, 'revision'],
    ['empty revision', { revision: '', services: [] }, 'revision'],
    ['services not an array', { revision: 'r', services: {} }, 'services'],
    ['empty name', doc({ ...good, name: '' }), 'services.0.name'],
    ['name with a newline', doc({ ...good, name: 'a\nb' }), 'services.0.name'],
    ['name with edge spaces', doc({ ...good, name: ' gh' }), 'services.0.name'],
    ['missing name', doc({ hosts: good.hosts, auth: good.auth }), 'services.0.name'],
    ['hosts empty', doc({ ...good, hosts: [] }), 'services.0.hosts'],
    ['hosts not strings', doc({ ...good, hosts: [443] }), 'services.0.hosts.0'],
    ['host with bad port', doc({ ...good, hosts: ['a.test:0'] }), 'services.0.hosts.0'],
    ['host with userinfo', doc({ ...good, hosts: ['u@a.test'] }), 'services.0.hosts.0'],
    ['bare IPv6 host', doc({ ...good, hosts: ['ok.test', '::1'] }), 'services.0.hosts.1'],
    ['wildcard alone', doc({ ...good, hosts: ['ok.test', '*'] }), 'services.0.hosts.1'],
    ['wildcard over one label', doc({ ...good, hosts: ['*.com'] }), 'services.0.hosts.0'],
    ['wildcard in the middle', doc({ ...good, hosts: ['a.*.com'] }), 'services.0.hosts.0'],
    ['wildcard over an IP', doc({ ...good, hosts: ['*.10.0.0.5'] }), 'services.0.hosts.0'],
    ['path_prefix without /', doc({ ...good, path_prefix: 'v1' }), 'services.0.path_prefix'],
    ['path_prefix with a query', doc({ ...good, path_prefix: '/v1?x=1' }), 'services.0.path_prefix'],
    ['path_prefix not a string', doc({ ...good, path_prefix: 1 }), 'services.0.path_prefix'],
    ['unknown service field', doc({ ...good, method: 'GET' }), 'services.0.method'],
    ['missing auth', doc({ name: 'a', hosts: ['a.test'] }), 'services.0.auth'],
    ['unknown auth type', doc({ ...good, auth: { type: 'digest', secret: 'K' } }), 'services.0.auth.type'],
    ['bearer without secret', doc({ ...good, auth: { type: 'bearer' } }), 'services.0.auth.secret'],
    [
      'bearer with empty secret',
      doc({ ...good, auth: { type: 'bearer', secret: '' } }),
      'services.0.auth.secret',
    ],
    [
      'unknown auth field',
      doc({ ...good, auth: { type: 'bearer', secret: 'K', x: 1 } }),
      'services.0.auth.x',
    ],
    [
      'header not a token',
      doc({ ...good, auth: { type: 'api_key_header', header: 'X Key', secret: 'K' } }),
      'services.0.auth.header',
    ],
    [
      'header Content-Length',
      doc({ ...good, auth: { type: 'api_key_header', header: 'Content-Length', secret: 'K' } }),
      'services.0.auth.header',
    ],
    [
      'header Host',
      doc({ ...good, auth: { type: 'api_key_header', header: 'host', secret: 'K' } }),
      'services.0.auth.header',
    ],
    [
      'header missing',
      doc({ ...good, auth: { type: 'api_key_header', secret: 'K' } }),
      'services.0.auth.header',
    ],
    [
      'prefix with CRLF',
      doc({ ...good, auth: { type: 'api_key_header', header: 'X-Key', secret: 'K', prefix: 'a\r\nb' } }),
      'services.0.auth.prefix',
    ],
    [
      'param empty',
      doc({ ...good, auth: { type: 'api_key_query', param: '', secret: 'K' } }),
      'services.0.auth.param',
    ],
    ['duplicate names', doc(good, [{ ...good, name: 'GitHub', hosts: ['x.test'] }]), 'services.1.name'],
  ])('%s', (_label, raw, path) => {
    const issues = issuesOf(raw);
    expect(issues.some((i) => i.startsWith(`${path}: `))).toBe(true);
  });

  it('rejects the whole document when one service of several is bad', () => {
    const raw = doc(good, [{ ...good, name: 'bad', auth: { type: 'bearer' } }]);
    expect(parseServicesDoc(raw).ok).toBe(false);
  });

  it('reports every issue at once', () => {
    const raw = doc({ name: '', hosts: [], auth: { type: 'bearer', secret: '' } });
    expect(issuesOf(raw).map((i) => i.split(':')[0])).toEqual([
      'services.0.name',
      'services.0.hosts',
      'services.0.auth.secret',
    ]);
  });
});

describe('parseServicesDoc: normalisation', () => {
  it.each([
    [undefined, '/'],
    ['/', '/'],
    ['/v1', '/v1'],
    ['/v1/', '/v1'],
    ['/v1//', '/v1'],
    ['//', '/'],
  ])('path_prefix %j becomes %j', (prefix, expected) => {
    const service =
      prefix === undefined ? { ...good, path_prefix: undefined } : { ...good, path_prefix: prefix };
    const result = parseServicesDoc(doc(service));
    expect(result.ok && result.index.services[0]?.pathPrefix).toBe(expected);
  });

  it.each([
    ['api.github.com', 'api.github.com:443'],
    ['API.GitHub.com.', 'api.github.com:443'],
    ['localhost:8443', 'localhost:8443'],
    ['10.0.0.5', '10.0.0.5:443'],
    ['[::1]:9000', '[::1]:9000'],
    ['bücher.example', 'xn--bcher-kva.example:443'],
  ])('host %j is keyed %j', (host, key) => {
    const result = parseServicesDoc(doc({ ...good, hosts: [host] }));
    expect(result.ok && result.index.services[0]?.hosts.map((h) => h.key)).toEqual([key]);
  });

  it('maps auth to camelCase types with the prefix defaulting to ""', () => {
    const result = parseServicesDoc(
      doc({ ...good, auth: { type: 'api_key_header', header: 'X-Api-Key', secret: 'K' } }),
    );
    expect(result.ok && result.index.services[0]?.auth).toEqual({
      type: 'api_key_header',
      header: 'X-Api-Key',
      secret: 'K',
      prefix: '',
    });
  });

  it('ignores unknown top-level metadata but keeps the revision', () => {
    const result = parseServicesDoc({ revision: 'r9', generated_at: 'now', services: [good] });
    expect(result.ok && result.index.revision).toBe('r9');
  });

  it('collapses a host written twice in one service', () => {
    const result = parseServicesDoc(doc({ ...good, hosts: ['a.test', 'A.test:443'] }));
    expect(result.ok && result.index.byHost.get('a.test:443')?.length).toBe(1);
  });
});

describe('buildServiceIndex', () => {
  const parsed = parseServiceList(
    [
      { name: 'one', hosts: ['a.test', 'b.test:8443'], auth: { type: 'bearer', secret: 'A' } },
      {
        name: 'two',
        hosts: ['a.test'],
        path_prefix: '/v2',
        auth: { type: 'api_key_query', param: 'k', secret: 'B' },
      },
    ],
    'rev-7',
  );
  if (!parsed.ok) throw new Error(parsed.issues.join('\n'));
  const index = parsed.index;

  it('keys byHost by HostPort.key, in definition order', () => {
    expect(index.byHost.get('a.test:443')?.map((s) => s.name)).toEqual(['one', 'two']);
    expect(index.byHost.get('b.test:8443')?.map((s) => s.name)).toEqual(['one']);
    expect(index.byHost.get('b.test:443')).toBeUndefined();
  });

  it('is frozen', () => {
    expect(Object.isFrozen(index)).toBe(true);
    expect(Object.isFrozen(index.services)).toBe(true);
    expect(Object.isFrozen(index.services[0])).toBe(true);
    expect(Object.isFrozen(index.services[0]?.hosts)).toBe(true);
    expect(Object.isFrozen(index.byHost.get('a.test:443'))).toBe(true);
  });

  it('builds from Service values directly', () => {
    const services = index.services as Service[];
    const again = buildServiceIndex('rev-8', services);
    expect(again.revision).toBe('rev-8');
    expect([...again.byHost.keys()]).toEqual(['a.test:443', 'b.test:8443']);
  });

  it('rejects a bad list with paths under services.N', () => {
    const bad = parseServiceList([{ name: 'x', hosts: ['a.test'], auth: { type: 'nope' } }], 'r');
    expect(bad.ok === false && bad.issues[0]?.startsWith('services.0.auth.type: ')).toBe(true);
  });
});

describe('wildcard hosts in services (issue 12)', () => {
  it('index wildcards by suffix key, exact hosts by key, in definition order', () => {
    const result = parseServicesDoc(
      doc({ ...good, name: 'one', hosts: ['*.Example.com', 'api.example.com'] }, [
        { ...good, name: 'two', hosts: ['*.example.com', '*.example.com:8443'] },
      ]),
    );
    if (!result.ok) throw new Error(result.issues.join('; '));
    expect(result.index.byWildcard?.get('example.com:443')?.map((s) => s.name)).toEqual(['one', 'two']);
    expect(result.index.byWildcard?.get('example.com:8443')?.map((s) => s.name)).toEqual(['two']);
    expect(result.index.byHost.get('api.example.com:443')?.map((s) => s.name)).toEqual(['one']);
    expect(result.index.services[0]?.hosts.map((h) => h.key)).toEqual([
      '*.example.com:443',
      'api.example.com:443',
    ]);
  });
});

describe('basic and template auth (issue 12)', () => {
  const withAuth = (auth: unknown) => doc({ ...good, auth });

  it.each([
    ['basic, literal user', { type: 'basic', username: 'ci', secret: 'PW' }],
    ['basic, empty literal user', { type: 'basic', username: '', secret: 'PW' }],
    ['basic, user from a secret', { type: 'basic', username_secret: 'U', secret: 'PW' }],
    [
      'template header',
      { type: 'template', header: 'Authorization', template: 'Token {{secret:A}}:{{secret:B}}' },
    ],
    ['template query', { type: 'template', query: 'sig', template: '{{secret:A}}' }],
    ['template custom header', { type: 'template', header: 'X-Api-Key', template: 'k-{{secret:A}}' }],
  ])('%s is accepted', (_l, auth) => {
    const r = parseServicesDoc(withAuth(auth));
    if (!r.ok) throw new Error(r.issues.join('; '));
  });

  it.each([
    [
      'basic with neither user',
      { type: 'basic', secret: 'PW' },
      /exactly one of username and username_secret/,
    ],
    [
      'basic with both users',
      { type: 'basic', username: 'a', username_secret: 'U', secret: 'PW' },
      /exactly one/,
    ],
    ['basic user with a colon', { type: 'basic', username: 'a:b', secret: 'PW' }, /colon/],
    ['basic user with CR', { type: 'basic', username: 'a\r', secret: 'PW' }, /control/],
    ['basic without secret', { type: 'basic', username: 'a' }, /auth\.secret/],
    ['basic unknown field', { type: 'basic', username: 'a', secret: 'PW', realm: 'x' }, /auth\.realm/],
    [
      'template with no placeholder',
      { type: 'template', header: 'X-K', template: 'constant' },
      /no \{\{secret/,
    ],
    ['template {{foo}}', { type: 'template', header: 'X-K', template: '{{foo}}' }, /unknown placeholder/],
    ['template {{secret:}}', { type: 'template', header: 'X-K', template: '{{secret:}}' }, /bad secret name/],
    ['template unbalanced', { type: 'template', header: 'X-K', template: '{{secret:A}' }, /unclosed/],
    ['template stray }', { type: 'template', header: 'X-K', template: '{{secret:A}}}' }, /unbalanced/],
    [
      'template header and query',
      { type: 'template', header: 'X-K', query: 'k', template: '{{secret:A}}' },
      /exactly one of header and query/,
    ],
    ['template neither header nor query', { type: 'template', template: '{{secret:A}}' }, /exactly one/],
    [
      'template empty query',
      { type: 'template', query: '', template: '{{secret:A}}' },
      /query must not be empty/,
    ],
    ...['Host', 'content-length', 'Transfer-Encoding', 'CONNECTION', 'Proxy-Authorization'].map(
      (h): [string, unknown, RegExp] => [
        `template header ${h}`,
        { type: 'template', header: h, template: '{{secret:A}}' },
        /cannot carry/,
      ],
    ),
  ] as [string, unknown, RegExp][])('%s is rejected with its path', (_l, auth, why) => {
    const issues = issuesOf(withAuth(auth));
    expect(issues.join('\n')).toMatch(/^services\.0\.auth/m);
    expect(issues.join('\n')).toMatch(why);
  });

  it('a rejected document keeps nothing of its good services (the whole document is refused)', () => {
    const r = parseServicesDoc(
      doc(good, [{ ...good, name: 'bad', auth: { type: 'template', header: 'X', template: '{{x}}' } }]),
    );
    expect(r.ok).toBe(false);
  });

  it('templates are parsed once, at validation', () => {
    const r = parseServicesDoc(
      withAuth({ type: 'template', query: 'sig', template: 'v1.{{secret:A}}.{{secret:B}}.{{secret:A}}' }),
    );
    if (!r.ok) throw new Error(r.issues.join('; '));
    const auth = r.index.services[0]!.auth;
    expect(auth).toMatchObject({ type: 'template', query: 'sig', header: undefined, secrets: ['A', 'B'] });
    expect(auth.type === 'template' && auth.parts).toEqual([
      'v1.',
      { secret: 'A' },
      '.',
      { secret: 'B' },
      '.',
      { secret: 'A' },
    ]);
  });
});

describe('fixtures/agent/example.json', () => {
  it('is a valid services document, basic, template and wildcard services included', async () => {
    const { readFile } = await import('node:fs/promises');
    const raw = JSON.parse(
      await readFile(new URL('../../../fixtures/agent/example.json', import.meta.url), 'utf8'),
    );
    const r = parseServicesDoc(raw);
    if (!r.ok) throw new Error(r.issues.join('; '));
    expect(new Set(r.index.services.map((s) => s.auth.type))).toEqual(
      new Set(['bearer', 'api_key_header', 'api_key_query', 'basic', 'template']),
    );
  });
});
