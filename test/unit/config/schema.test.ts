import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/load.js';
import {
  agentUrlProblem,
  normalizeAgentUrl,
  parseListen,
  proxyUrlProblem,
} from '../../../src/config/text-values.js';
import { DEFAULT_AGENT, DEFAULT_LIMITS } from '../../../src/config/types.js';

const L = { listen: '127.0.0.1:0' } as const;

function issuesOf(raw: unknown): readonly string[] {
  const r = parseConfig(raw);
  if (r.ok) throw new Error('expected the config to be rejected');
  return r.issues;
}

describe('parseConfig: each field, its bad values, the exact line', () => {
  it.each<[string, unknown, string[]]>([
    ['root not an object', 5, ['(root): expected an object, got 5']],
    ['root null', null, ['(root): expected an object, got null']],
    ['root array', [], ['listen: required', '(root): expected an object, got an array']],
    ['listen missing', {}, ['listen: required']],
    [
      'admin.listen not loopback',
      { ...L, admin: { listen: '0.0.0.0:9090' } },
      ['admin.listen: must be a loopback address (127.0.0.0/8, ::1 or localhost)'],
    ],
    ['admin without listen', { ...L, admin: {} }, ['admin.listen: required']],
    ['workers zero', { ...L, workers: 0 }, ['workers: expected a positive integer or "auto", got 0']],
    [
      'workers a word',
      { ...L, workers: 'many' },
      ['workers: expected a positive integer or "auto", got "many"'],
    ],
    ['listen a number', { listen: 5 }, ['listen: expected a string, got 5']],
    ['listen without port', { listen: 'foo' }, ['listen: expected "host:port" or "[v6]:port", got "foo"']],
    [
      'listen port too big',
      { listen: '127.0.0.1:65536' },
      ['listen: invalid port "65536" (expected 0-65535)'],
    ],
    ['listen empty port', { listen: 'localhost:' }, ['listen: invalid port "" (expected 0-65535)']],
    ['listen bad host', { listen: 'exa mple:1' }, ['listen: invalid host "exa mple"']],
    ['listen empty host', { listen: ':8080' }, ['listen: invalid host ""']],
    [
      'listen unbracketed v6',
      { listen: '::1:80' },
      ['listen: expected "host:port" or "[v6]:port" (IPv6 needs brackets), got "::1:80"'],
    ],
    ['listen brackets on v4', { listen: '[127.0.0.1]:80' }, ['listen: brackets are only for IPv6 literals']],
    ['ca_dir empty', { ...L, ca_dir: '' }, ['ca_dir: expected a non-empty string, got ""']],
    ['agent not object', { ...L, agent: 'x' }, ['agent: expected an object, got "x"']],
    ['agent array', { ...L, agent: [] }, ['agent: expected an object, got an array']],
    [
      'agent.url not loopback',
      { ...L, agent: { url: 'http://10.0.0.1:7777' } },
      ['agent.url: must be a loopback address (127.0.0.0/8, ::1 or localhost)'],
    ],
    [
      'agent.url https',
      { ...L, agent: { url: 'https://127.0.0.1:7777' } },
      ['agent.url: expected an http:// URL'],
    ],
    [
      'agent.url creds',
      { ...L, agent: { url: 'http://u:p@127.0.0.1' } },
      ['agent.url: must not contain credentials'],
    ],
    ['agent.url empty', { ...L, agent: { url: '' } }, ['agent.url: expected an http:// URL, got ""']],
    [
      'agent.ready_timeout_ms 0',
      { ...L, agent: { ready_timeout_ms: 0 } },
      ['agent.ready_timeout_ms: expected a positive integer, got 0'],
    ],
    [
      'agent.services_refresh_ms string',
      { ...L, agent: { services_refresh_ms: '10' } },
      ['agent.services_refresh_ms: expected a positive integer, got "10"'],
    ],
    [
      'agent.secret_ttl_ms negative',
      { ...L, agent: { secret_ttl_ms: -1 } },
      ['agent.secret_ttl_ms: expected a non-negative integer, got -1'],
    ],
    [
      'passthrough_hosts not array',
      { ...L, passthrough_hosts: 'x.com' },
      ['passthrough_hosts: expected an array of hosts, got "x.com"'],
    ],
    [
      'passthrough_hosts entries',
      { ...L, passthrough_hosts: ['ok.com', 'bad..com', 'user@x.com', 7, '[fe80::1%eth0]', 'x.com:0'] },
      [
        'passthrough_hosts[1]: invalid host "bad..com"',
        'passthrough_hosts[2]: userinfo is not allowed in a host',
        'passthrough_hosts[3]: expected a string, got 7',
        'passthrough_hosts[4]: invalid host "fe80::1%eth0"',
        'passthrough_hosts[5]: invalid port "0" (expected 1-65535)',
      ],
    ],
    [
      'passthrough_hosts wildcards (issue 12)',
      { ...L, passthrough_hosts: ['*.ok.com', '*', '*.com', 'a.*.com', '*.10.0.0.5', '*.ok.com:8443'] },
      [
        'passthrough_hosts[1]: invalid wildcard "*": "*" must be the whole first label',
        'passthrough_hosts[2]: invalid wildcard "*.com": needs at least two labels after "*."',
        'passthrough_hosts[3]: invalid wildcard "a.*.com": "*" must be the whole first label',
        'passthrough_hosts[4]: a wildcard cannot cover an IP literal',
      ],
    ],
    ['audit not object', { ...L, audit: 'stdout' }, ['audit: expected an object or a list, got "stdout"']],
    [
      'audit unknown sink',
      { ...L, audit: { sink: 'syslog' } },
      ['audit.sink: expected "stdout", "file", "webhook" or "otlp", got "syslog"'],
    ],
    ['audit file without path', { ...L, audit: { sink: 'file' } }, ['audit.path: required']],
    ['audit stdout with path', { ...L, audit: { sink: 'stdout', path: 'x' } }, ['audit.path: unknown key']],
    [
      'audit file bad fields',
      { ...L, audit: { sink: 'file', path: '', max_bytes: 0, max_files: 1.5, extra: 1 } },
      [
        'audit.path: expected a non-empty string, got ""',
        'audit.max_bytes: expected a positive integer, got 0',
        'audit.max_files: expected a positive integer, got 1.5',
        'audit.extra: unknown key',
      ],
    ],
    ['upstream_proxy without url', { ...L, upstream_proxy: {} }, ['upstream_proxy.url: required']],
    [
      'upstream_proxy socks',
      { ...L, upstream_proxy: { url: 'socks5://proxy:1080' } },
      ['upstream_proxy.url: expected an http:// or https:// URL'],
    ],
    [
      'upstream_proxy with path',
      { ...L, upstream_proxy: { url: 'http://proxy:3128/x' } },
      ['upstream_proxy.url: must not have a path, query or fragment'],
    ],
    [
      'upstream_proxy bad userinfo',
      { ...L, upstream_proxy: { url: 'http://u:%zz@proxy:3128' } },
      ['upstream_proxy.url: credentials are not valid percent-encoding'],
    ],
    [
      'upstream_proxy no_proxy entry',
      { ...L, upstream_proxy: { url: 'http://proxy:3128', no_proxy: 'ok.com bad..com 10.0.0.0/33' } },
      [
        'upstream_proxy.no_proxy: invalid entry "bad..com"',
        'upstream_proxy.no_proxy: invalid entry "10.0.0.0/33"',
      ],
    ],
    [
      'upstream_ca_file number',
      { ...L, upstream_ca_file: 7 },
      ['upstream_ca_file: expected a string, got 7'],
    ],
    [
      'drain_timeout_ms 0',
      { ...L, drain_timeout_ms: 0 },
      ['drain_timeout_ms: expected a positive integer, got 0'],
    ],
    ['limits not object', { ...L, limits: 5 }, ['limits: expected an object, got 5']],
    ['limits array', { ...L, limits: [] }, ['limits: expected an object, got an array']],
    ...Object.keys({
      max_connections: 0,
      max_header_bytes: 0,
      header_timeout_ms: 0,
      handshake_timeout_ms: 0,
      idle_timeout_ms: 0,
      upstream_connect_timeout_ms: 0,
      upstream_response_timeout_ms: 0,
      leaf_cache_size: 0,
    }).map((k): [string, unknown, string[]] => [
      `limits.${k} negative`,
      { ...L, limits: { [k]: -1 } },
      [`limits.${k}: expected a positive integer, got -1`],
    ]),
    [
      'limits beyond safe integers',
      { ...L, limits: { max_connections: 2 ** 53 } },
      ['limits.max_connections: expected a positive integer, got 9007199254740992'],
    ],
    [
      'log_level unknown',
      { ...L, log_level: 'verbose' },
      ['log_level: expected one of trace, debug, info, warn, error, fatal, silent, got "verbose"'],
    ],
    [
      'egress.allow_private not a CIDR',
      { ...L, egress: { allow_private: ['10.0.0.0/8', 'ten', '10.1.2.3/8', '10.0.0.0/33', '::1/129'] } },
      [
        'egress.allow_private[1]: invalid CIDR "ten" (expected e.g. 10.0.0.0/8, host bits zero)',
        'egress.allow_private[2]: invalid CIDR "10.1.2.3/8" (expected e.g. 10.0.0.0/8, host bits zero)',
        'egress.allow_private[3]: invalid CIDR "10.0.0.0/33" (expected e.g. 10.0.0.0/8, host bits zero)',
        'egress.allow_private[4]: invalid CIDR "::1/129" (expected e.g. 10.0.0.0/8, host bits zero)',
      ],
    ],
    [
      'egress.allow_private a string',
      { ...L, egress: { allow_private: '10.0.0.0/8' } },
      ['egress.allow_private: expected an array of CIDRs, got "10.0.0.0/8"'],
    ],
    ['egress unknown key', { ...L, egress: { allow_all: true } }, ['egress.allow_all: unknown key']],
    ['unknown top-level key', { ...L, bogus: 1 }, ['bogus: unknown key']],
    ['__proto__ key', JSON.parse('{"listen":"127.0.0.1:0","__proto__":{"x":1}}'), ['__proto__: unknown key']],
    ['odd key names quoted', { ...L, 'odd key': 1 }, ['["odd key"]: unknown key']],
  ])('%s', (_name, raw, lines) => {
    expect(issuesOf(raw)).toEqual(lines);
  });

  it('reports every issue at once: every unknown key at every level, after the schema issues', () => {
    const raw = {
      ...L,
      bogus: 1,
      other: 2,
      agent: { x: 1, y: 2, url: 'http://10.0.0.1' },
      limits: { max_connections: -1 },
    };
    expect(issuesOf(raw)).toEqual([
      'agent.url: must be a loopback address (127.0.0.0/8, ::1 or localhost)',
      'limits.max_connections: expected a positive integer, got -1',
      'bogus: unknown key',
      'other: unknown key',
      'agent.x: unknown key',
      'agent.y: unknown key',
    ]);
  });

  it('never echoes the upstream proxy URL or anything URL-like', () => {
    const secret = 'hunter2';
    const lines = issuesOf({
      ...L,
      upstream_proxy: { url: `socks5://user:${secret}@proxy:1080` },
      agent: { url: `https://user:${secret}@127.0.0.1` },
      ca_dir: 5,
      log_level: `user:${secret}@x`,
    });
    expect(lines.join('\n')).not.toContain(secret);
    expect(lines).toContain('upstream_proxy.url: expected an http:// or https:// URL');
    expect(lines).toContain('log_level: expected one of trace, debug, info, warn, error, fatal, silent');
  });

  it('never leaks valibot default messages (they quote the received value)', () => {
    const lines = issuesOf({
      listen: [],
      agent: { url: 5 },
      audit: { sink: 'file', path: 5 },
      limits: { x: 1 },
    });
    expect(lines.join('\n')).not.toMatch(/received|Invalid/);
  });
});

describe('parseConfig: accepted configs', () => {
  it('fills every default from the minimal config, deeply frozen', () => {
    const r = parseConfig(JSON.parse(readFileSync('fixtures/config/minimal.json', 'utf8')));
    expect(r).toEqual({
      ok: true,
      config: {
        listen: { host: '127.0.0.1', port: 0 },
        caDir: undefined,
        agent: { url: '', ...DEFAULT_AGENT },
        passthroughHosts: [],
        audit: [{ sink: 'stdout' }],
        upstreamProxy: undefined,
        upstreamCaFile: undefined,
        drainTimeoutMs: undefined,
        workers: 1,
        limits: DEFAULT_LIMITS,
        egress: { allowPrivate: [] },
        logLevel: 'info',
      },
    });
    if (!r.ok) return;
    for (const part of [
      r.config,
      r.config.listen,
      r.config.agent,
      r.config.passthroughHosts,
      r.config.limits,
      r.config.egress,
      r.config.egress.allowPrivate,
    ]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
  });

  it('maps every field of the full config to camelCase', () => {
    const r = parseConfig(JSON.parse(readFileSync('fixtures/config/full.json', 'utf8')));
    if (!r.ok) throw new Error(r.issues.join('\n'));
    const c = r.config;
    expect(c.caDir).toBe('/var/lib/clef/proxy/ca');
    expect(c.agent).toEqual({
      url: 'http://127.0.0.1:7777',
      readyTimeoutMs: 30000,
      servicesRefreshMs: 10000,
      secretTtlMs: 5000,
    });
    expect(c.passthroughHosts.map((h) => h.key)).toEqual([
      'registry.npmjs.org:443',
      '10.0.0.5:8443',
      '[2001:db8::5]:8443',
    ]);
    expect(c.audit).toEqual([
      {
        sink: 'file',
        path: '/var/log/clef/proxy-audit.jsonl',
        maxBytes: 10485760,
        maxFiles: 5,
      },
    ]);
    expect(c.upstreamProxy).toEqual({
      url: 'http://user:pass@proxy.corp:3128',
      noProxy: 'internal.corp,.svc,10.0.0.0/8',
    });
    expect(c.upstreamCaFile).toBe('/etc/ssl/corp-root.pem');
    expect(c.drainTimeoutMs).toBe(10000);
    expect(c.limits).toEqual(DEFAULT_LIMITS);
    expect(c.egress).toEqual({ allowPrivate: ['10.0.0.0/8', 'fd00:1234::/32'] });
    expect(c.logLevel).toBe('info');
    expect(c.admin).toEqual({ listen: { host: '127.0.0.1', port: 9090 } });
    expect(Object.isFrozen(c.upstreamProxy)).toBe(true);
    expect(Object.isFrozen(c.audit)).toBe(true);
  });

  it.each([
    [
      { ...L, agent: { secret_ttl_ms: 0 } },
      (c: { agent: { secretTtlMs: number } }) => c.agent.secretTtlMs,
      0,
    ],
    [
      { ...L, agent: { url: 'http://localhost:7777//' } },
      (c: { agent: { url: string } }) => c.agent.url,
      'http://localhost:7777',
    ],
    [
      { ...L, audit: { sink: 'file', path: 'a.log' } },
      (c: { audit: unknown }) => c.audit,
      [{ sink: 'file', path: 'a.log', maxBytes: 10485760, maxFiles: 5 }],
    ],
    [
      { ...L, upstream_proxy: { url: 'https://proxy:3128' } },
      (c: { upstreamProxy: unknown }) => c.upstreamProxy,
      { url: 'https://proxy:3128', noProxy: '' },
    ],
    [{ listen: '[::]:8118' }, (c: { listen: unknown }) => c.listen, { host: '::', port: 8118 }],
    [
      { listen: 'LocalHost.:65535' },
      (c: { listen: unknown }) => c.listen,
      { host: 'localhost', port: 65535 },
    ],
  ] as const)('%j', (raw, pick, expected) => {
    const r = parseConfig(raw);
    if (!r.ok) throw new Error(r.issues.join('\n'));
    expect((pick as (c: unknown) => unknown)(r.config)).toEqual(expected);
  });

  it('drops duplicate passthrough entries that normalise to the same key', () => {
    const r = parseConfig({
      ...L,
      passthrough_hosts: ['Example.com', 'example.com.:443', 'example.com:8443'],
    });
    if (!r.ok) throw new Error(r.issues.join('\n'));
    expect(r.config.passthroughHosts.map((h) => h.key)).toEqual(['example.com:443', 'example.com:8443']);
  });
});

describe('schema helpers', () => {
  it.each([
    ['127.0.0.1:0', { ok: true, value: { host: '127.0.0.1', port: 0 } }],
    ['[::1]:8118', { ok: true, value: { host: '::1', port: 8118 } }],
    ['0.0.0.0:65535', { ok: true, value: { host: '0.0.0.0', port: 65535 } }],
    ['127.0.0.1:08', { ok: false, reason: 'invalid port "08" (expected 0-65535)' }],
    ['127.0.0.1', { ok: false, reason: 'expected "host:port" or "[v6]:port"' }],
    ['[::1]', { ok: false, reason: 'expected "host:port" or "[v6]:port"' }],
    ['[fe80::1%eth0]:1', { ok: false, reason: 'invalid host "fe80::1%eth0"' }],
  ])('parseListen(%j)', (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each([
    ['http://127.0.0.1:7777', undefined],
    ['http://[::1]:7777/base', undefined],
    ['http://localhost:7777', undefined],
    ['http://127.9.9.9', undefined],
    ['http://10.0.0.1:7777', 'must be a loopback address (127.0.0.0/8, ::1 or localhost)'],
    ['http://localhost.evil.com', 'must be a loopback address (127.0.0.0/8, ::1 or localhost)'],
    ['https://127.0.0.1', 'expected an http:// URL'],
    ['127.0.0.1:7777', 'expected an http:// URL'],
    ['http://127.0.0.1/?x=1', 'must not have a query or fragment'],
    ['http://:tok@127.0.0.1', 'must not contain credentials'],
  ])('agentUrlProblem(%j) → %s', (url, problem) => {
    expect(agentUrlProblem(url)).toBe(problem);
  });

  it.each([
    ['http://proxy:3128', undefined],
    ['https://u:p%40ss@proxy.corp:3128/', undefined],
    ['http://[2001:db8::1]:3128', undefined],
    ['ftp://proxy', 'expected an http:// or https:// URL'],
    ['proxy:3128', 'expected an http:// or https:// URL'],
    ['http://proxy:3128?x', 'must not have a path, query or fragment'],
  ])('proxyUrlProblem(%j) → %s', (url, problem) => {
    expect(proxyUrlProblem(url)).toBe(problem);
  });

  it('normalizeAgentUrl strips trailing slashes only', () => {
    expect(normalizeAgentUrl('http://127.0.0.1:7777///')).toBe('http://127.0.0.1:7777');
    expect(normalizeAgentUrl('http://127.0.0.1:7777/base')).toBe('http://127.0.0.1:7777/base');
  });
});
