/**
 * explainRequest (issue 12 `explain`), table-driven: the decision at each stage in prepareRequest's order, the
 * candidates' verdicts, identity modes, the credential shape (names only) and the route with its NO_PROXY entry.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseIdentitiesDoc } from '../../../src/agent/identities.js';
import { parseServiceList } from '../../../src/agent/services.js';
import { parseHostEntry } from '../../../src/net/host-pattern.js';
import { parseHostPort } from '../../../src/net/host-port.js';
import { buildHostSet } from '../../../src/net/host-set.js';
import { parseNoProxy } from '../../../src/net/no-proxy.js';
import { type ExplainArgs, explainRequest } from '../../../src/pipeline/explain.js';
import { describeCredential, explainIdentity } from '../../../src/pipeline/explain-parts.js';
import { parseProxyUrl } from '../../../src/upstream/proxy-url.js';

const parsed = parseServiceList(
  [
    { name: 'gh', hosts: ['api.github.com'], auth: { type: 'bearer', secret: 'GH' } },
    { name: 'gh-v1', hosts: ['api.github.com'], path_prefix: '/v1', auth: { type: 'bearer', secret: 'GH1' } },
    {
      name: 'gh-v1b',
      hosts: ['api.github.com'],
      path_prefix: '/v1',
      auth: { type: 'bearer', secret: 'GH1B' },
    },
    {
      name: 'ci',
      hosts: ['ci.test'],
      auth: { type: 'api_key_header', header: 'X-Key', secret: 'CI', prefix: 'k=' },
      identities: ['ci-*'],
    },
  ],
  'r',
);
if (!parsed.ok) throw new Error(parsed.issues.join());
const table = parseIdentitiesDoc([
  { name: 'ci-bot', token_sha256: createHash('sha256').update('x').digest('hex') },
]);
if (!table.ok) throw new Error('bad identities');

function args(url: string, over: Partial<ExplainArgs> = {}): ExplainArgs {
  const m = /^(https?):\/\/([^/?]*)(.*)$/.exec(url)!;
  const scheme = m[1] as 'https' | 'http';
  const hp = parseHostPort(m[2]!, scheme === 'https' ? 443 : 80);
  if (!hp.ok) throw new Error(hp.reason);
  const pass = ['registry.npmjs.org', 'api.github.com:80'].map((e) => {
    const r = parseHostEntry(e);
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  });
  return {
    scheme,
    target: hp.value,
    rawTarget: m[3] || '/',
    method: 'GET',
    identity: 'ci-bot',
    headers: [],
    index: parsed.ok ? parsed.index : (undefined as never),
    identities: undefined,
    authWaived: false,
    passthrough: buildHostSet(pass),
    upstream: {
      https: parseProxyUrl('http://u:secret-pw@proxy.corp:3128'),
      http: undefined,
      noProxy: parseNoProxy('.npmjs.org'),
    },
    ...over,
  };
}

describe('explainRequest', () => {
  it.each<[string, ExplainArgs, string, boolean, string | null]>([
    ['one candidate: injected', args('https://api.github.com/x'), 'intercept', true, null],
    [
      'two tie on /v1: ambiguous',
      args('https://api.github.com/v1/x'),
      'intercept',
      false,
      'ambiguous_service',
    ],
    [
      'X-Clef-Service resolves the tie',
      args('https://api.github.com/v1/x', { headers: ['X-Clef-Service', 'gh-v1b'] }),
      'intercept',
      true,
      null,
    ],
    ['unlisted host', args('https://nowhere.test/'), 'deny', false, 'host_not_allowed'],
    ['passthrough: tunnel', args('https://registry.npmjs.org/'), 'tunnel', true, null],
    [
      'Host naming another host: 421',
      args('https://api.github.com/', { headers: ['Host', 'x.test'] }),
      'intercept',
      false,
      'misdirected_request',
    ],
    ['dot segment: 400', args('https://api.github.com/a/%2e%2e/b'), 'intercept', false, 'bad_request'],
    ['identity listed by glob', args('https://ci.test/'), 'intercept', true, null],
    [
      'identity not listed',
      args('https://ci.test/', { identity: 'dev' }),
      'intercept',
      false,
      'identity_not_allowed',
    ],
    [
      'anonymous against a list',
      args('https://ci.test/', { identity: undefined }),
      'intercept',
      false,
      'identity_not_allowed',
    ],
    [
      'agent table, unknown name: 407',
      args('https://ci.test/', { identity: 'dev', identities: table.table }),
      'deny',
      false,
      'proxy_auth_required',
    ],
    ['http:// to a passthrough host:port', args('http://api.github.com/'), 'forward', true, null],
    [
      'http:// to a service name on another port',
      args('http://api.github.com:8080/'),
      'deny',
      false,
      'https_required',
    ],
  ])('%s', (_label, a, decision, forwarded, code) => {
    const e = explainRequest(a);
    expect(e.target.decision).toBe(decision);
    expect(e.result.forwarded).toBe(forwarded);
    expect(e.result.code).toBe(code);
    expect(JSON.stringify(e)).not.toContain('secret-pw');
  });

  it('names the ambiguous candidates and the one that lost on its path', () => {
    const e = explainRequest(args('https://api.github.com/v1/x'));
    expect(e.candidates.map((c) => [c.service, c.outcome, c.reason])).toEqual([
      ['gh', 'lost', 'shorter_path_prefix'],
      ['gh-v1', 'tied', 'ambiguous'],
      ['gh-v1b', 'tied', 'ambiguous'],
    ]);
  });

  it('routes via the redacted proxy, or direct with the deciding NO_PROXY entry', () => {
    expect(explainRequest(args('https://api.github.com/')).upstream).toEqual({
      route: 'proxy',
      proxy: 'http://proxy.corp:3128',
      no_proxy_entry: null,
    });
    expect(explainRequest(args('https://registry.npmjs.org/')).upstream).toEqual({
      route: 'direct',
      proxy: null,
      no_proxy_entry: '.npmjs.org',
    });
    expect(explainRequest(args('http://api.github.com/')).upstream).toEqual({
      route: 'direct',
      proxy: null,
      no_proxy_entry: null,
    });
  });
});

describe('describeCredential', () => {
  it.each([
    [
      { type: 'bearer', secret: 'K' },
      { header: 'Authorization', query: null, format: 'Bearer {{secret:K}}', secrets: ['K'] },
    ],
    [
      { type: 'api_key_header', header: 'X-Key', secret: 'K', prefix: 'p ' },
      { header: 'X-Key', format: 'p {{secret:K}}' },
    ],
    [
      { type: 'api_key_query', param: 'sig', secret: 'K' },
      { header: null, query: 'sig', secrets: ['K'] },
    ],
    [
      { type: 'template', header: 'Authorization', template: 'Token {{secret:A}}:{{secret:B}}' },
      {
        type: 'template',
        header: 'Authorization',
        format: 'Token {{secret:A}}:{{secret:B}}',
        secrets: ['A', 'B'],
      },
    ],
    [
      { type: 'basic', username_secret: 'U', secret: 'P' },
      { type: 'basic', header: 'Authorization', secrets: ['U', 'P'] },
    ],
  ])('%j', (auth, expected) => {
    // Through the services schema, as the proxy holds it (normalised field names).
    const svc = parseServiceList([{ name: 's', hosts: ['a.test'], auth: auth as never }], 'r');
    if (!svc.ok) throw new Error(svc.issues.join());
    expect(describeCredential(svc.index.services[0]!.auth)).toMatchObject(expected);
  });
});

describe('explainIdentity', () => {
  it.each([
    [
      'shared token, named',
      'ci-bot',
      undefined,
      false,
      { name: 'ci-bot', mode: 'shared_token', admitted: true },
    ],
    ['shared token, none', undefined, undefined, false, { name: null, mode: 'shared_token', admitted: true }],
    ['agent, listed', 'ci-bot', 'table', false, { name: 'ci-bot', mode: 'agent', admitted: true }],
    ['agent, unlisted', 'dev', 'table', false, { name: null, mode: 'agent', admitted: false }],
    ['agent, none', undefined, 'table', false, { name: null, mode: 'agent', admitted: false }],
    ['waived, unlisted', 'dev', 'table', true, { name: null, mode: 'waived', admitted: true }],
  ] as const)('%s', (_l, identity, withTable, waived, expected) => {
    const t = withTable === 'table' && table.ok ? table.table : undefined;
    expect(explainIdentity(identity, t, waived)).toEqual(expected);
  });
});
