// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the tests spell the ${NAME} header syntax
/**
 * The shipping audit sinks' config (docs/audit.md): webhook and OTLP keys and defaults, a list of sinks, every
 * issue with its path, and header values resolved from the environment at startup — never printed.
 */
import { describe, expect, it } from 'vitest';
import { expandHeaderValue, headerValueProblem } from '../../../src/config/audit-fields.js';
import { readEnv } from '../../../src/config/env.js';
import { parseConfig } from '../../../src/config/load.js';
import { resolveServe } from '../../../src/config/resolve.js';
import { ExitCode, StartupError } from '../../../src/exit-codes.js';

const L = { listen: '127.0.0.1:0', agent: { url: 'http://127.0.0.1:7777' } } as const;
const TOKENS = { CLEF_PROXY_AGENT_TOKEN: 'a', CLEF_PROXY_TOKEN: 'w' };
const SIEM = 'siem-5ecret-value';

function issuesOf(raw: unknown): readonly string[] {
  const r = parseConfig(raw);
  if (r.ok) throw new Error('expected the config to be rejected');
  return r.issues;
}

function configOf(raw: Record<string, unknown>) {
  const r = parseConfig({ ...L, ...raw });
  if (!r.ok) throw new Error(r.issues.join('\n'));
  return r.config;
}

describe('audit config: webhook, otlp and lists', () => {
  it('a webhook with defaults', () => {
    const c = configOf({ audit: { sink: 'webhook', url: 'https://siem.example/in?x=1' } });
    expect(c.audit).toEqual([
      {
        sink: 'webhook',
        url: 'https://siem.example/in?x=1',
        headers: {},
        batchMax: 500,
        flushMs: 1000,
        queueMax: 10000,
      },
    ]);
  });

  it('a list keeps order; otlp endpoint loses its trailing slash', () => {
    const c = configOf({
      audit: [
        { sink: 'stdout' },
        { sink: 'otlp', endpoint: 'https://collector.example:4318/', batch_max: 5, headers: { 'x-a': 'b' } },
      ],
    });
    expect(c.audit.map((a) => a.sink)).toEqual(['stdout', 'otlp']);
    expect(c.audit[1]).toMatchObject({ endpoint: 'https://collector.example:4318', batchMax: 5 });
  });

  it.each<[string, unknown, string[]]>([
    ['empty list', [], ['audit: needs at least one sink']],
    [
      'http to a remote host',
      { sink: 'webhook', url: 'http://siem.example/in' },
      ['audit.url: http:// is allowed only to a loopback address; use https://'],
    ],
    [
      'credentials in the url are not quoted',
      { sink: 'webhook', url: 'https://user:pw@siem.example/' },
      ['audit.url: must not contain credentials (put them in a header)'],
    ],
    [
      'otlp query',
      { sink: 'otlp', endpoint: 'http://127.0.0.1:4318/?a=1' },
      ['audit.endpoint: must not have a query'],
    ],
    [
      'item issues carry their index, unknown keys all reported',
      [
        { sink: 'stdout', a: 1 },
        { sink: 'webhook', url: 'https://x.example', batch_max: 0, b: 2, c: 3 },
      ],
      [
        'audit[0].a: unknown key',
        'audit[1].batch_max: expected a positive integer, got 0',
        'audit[1].b: unknown key',
        'audit[1].c: unknown key',
      ],
    ],
    [
      'bad header names and templates, values never quoted',
      {
        sink: 'webhook',
        url: 'https://x.example',
        headers: { 'bad name': 'v', Host: 'h', 'X-A': `${SIEM}$`, 'X-B': 5 },
      },
      [
        'audit.headers["bad name"]: not a valid header name',
        'audit.headers.Host: set by clef-proxy itself; not configurable',
        'audit.headers["X-A"]: invalid variable reference: use $NAME, ${NAME}, or $$ for a literal $',
        'audit.headers["X-B"]: expected a string, got 5',
      ],
    ],
  ])('%s', (_name, audit, lines) => {
    const issues = issuesOf({ ...L, audit });
    expect(issues).toEqual(lines);
    expect(issues.join('\n')).not.toContain(SIEM);
  });

  it('http:// is accepted to a loopback receiver', () => {
    const c = configOf({ audit: { sink: 'otlp', endpoint: 'http://[::1]:4318' } });
    expect(c.audit[0]).toMatchObject({ endpoint: 'http://[::1]:4318' });
  });
});

describe('audit header templates', () => {
  const lookup = (name: string) => ({ TOKEN: 't0k', EMPTY: '' })[name];
  it.each([
    ['$TOKEN', 't0k'],
    ['Bearer ${TOKEN}', 'Bearer t0k'],
    ['${TOKEN}x$TOKEN', 't0kxt0k'],
    ['cost: $$5', 'cost: $5'],
    ['plain', 'plain'],
  ])('%s', (template, value) => {
    expect(headerValueProblem(template)).toBeUndefined();
    expect(expandHeaderValue(template, lookup)).toEqual({ ok: true, value });
  });

  it('an unset or empty variable is reported by name', () => {
    expect(expandHeaderValue('Bearer $NOPE', lookup)).toEqual({ ok: false, missing: 'NOPE' });
    expect(expandHeaderValue('${EMPTY}', lookup)).toEqual({ ok: false, missing: 'EMPTY' });
  });

  it.each(['$', '${X', '${}', '$1', 'a\r\nb'])('%j is refused', (template) => {
    expect(headerValueProblem(template)).toBeDefined();
  });
});

describe('resolveServe: audit headers from the environment', () => {
  const audit = [
    { sink: 'stdout' },
    { sink: 'webhook', url: 'https://x.example', headers: { Authorization: 'Splunk $SIEM_TOKEN' } },
  ];

  it('expands the variable; the value is not enumerable, so a logged settings object lacks it', () => {
    const s = resolveServe(configOf({ audit }), readEnv({ ...TOKENS, SIEM_TOKEN: SIEM }, 'linux'), {
      lambdaLoopbackOnly: false,
    });
    const hook = s.audit[1];
    if (hook?.sink !== 'webhook') throw new Error('expected the webhook');
    expect(hook.headers).toEqual({ Authorization: `Splunk ${SIEM}` });
    expect(JSON.stringify(s)).not.toContain(SIEM);
    expect(JSON.stringify(hook)).not.toContain(SIEM);
  });

  it('a missing variable is exit 2, naming the header and the variable', () => {
    let err: unknown;
    try {
      resolveServe(configOf({ audit }), readEnv(TOKENS, 'linux'), { lambdaLoopbackOnly: false });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).code).toBe(ExitCode.InvalidConfig);
    expect(String((err as Error).message)).toContain(
      'audit[1].headers.Authorization: environment variable SIEM_TOKEN is not set',
    );
  });
});
