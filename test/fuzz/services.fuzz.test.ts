/**
 * Property-based fuzzing of the services document parser (SPEC §5). The document comes over the wire from the
 * agent, so `parseServicesDoc` must never throw — a throw in the poller would drop the last good set or crash a
 * refresh — and every failure must be a list of `path: message` issues. An accepted document must only hold
 * services whose hosts are canonical keys, so the hot path never meets an entry it did not validate.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseServicesDoc, type ServicesParseResult } from '../../src/agent/services.js';
import { parseHostPort } from '../../src/net/host-port.js';

const RUNS = 1000;

function validDoc(): Record<string, unknown> {
  return {
    revision: 'r1',
    services: [
      { name: 'github', hosts: ['api.github.com'], path_prefix: '/', auth: { type: 'bearer', secret: 'GH' } },
      {
        name: 'keyed',
        hosts: ['api.example.com:8443', '[::1]:443', '10.0.0.5'],
        path_prefix: '/v1/',
        auth: { type: 'api_key_header', header: 'X-Api-Key', secret: 'K', prefix: 'Token ' },
      },
      { name: 'query', hosts: ['q.example.com'], auth: { type: 'api_key_query', param: 'key', secret: 'Q' } },
    ],
  };
}

/**
 * `(root)` or a dot path such as `services.1.auth.header`, then `: ` and a message. A key is shown as sent, so it
 * may hold spaces (`services.0. : unknown key`); the path always starts with a non-space.
 */
const ISSUE_LINE = /^(?:\(root\)|\S.*?): \S/s;

function assertWellFormed(r: ServicesParseResult): void {
  if (!r.ok) {
    expect(r.issues.length).toBeGreaterThan(0);
    for (const line of r.issues) expect(line).toMatch(ISSUE_LINE);
    return;
  }
  expect(typeof r.index.revision).toBe('string');
  for (const service of r.index.services) {
    expect(service.hosts.length).toBeGreaterThan(0);
    expect(service.pathPrefix.startsWith('/')).toBe(true);
    for (const host of service.hosts) {
      const again = parseHostPort(host.key, null);
      expect(again.ok && again.value.key).toBe(host.key);
      expect(r.index.byHost.get(host.key)).toContain(service);
    }
  }
}

const SERVICE_PATHS: readonly (readonly (string | number)[])[] = [
  ['revision'],
  ['services'],
  ['services', 0],
  ['services', 0, 'name'],
  ['services', 0, 'hosts'],
  ['services', 0, 'hosts', 0],
  ['services', 0, 'path_prefix'],
  ['services', 0, 'auth'],
  ['services', 1, 'auth', 'type'],
  ['services', 1, 'auth', 'header'],
  ['services', 1, 'auth', 'prefix'],
  ['services', 2, 'auth', 'param'],
  ['services', 2, 'extra'],
  ['services', 1, 'name'],
];

/** Set a value (or delete it) at `path` in a deep copy; containers on the way are created as needed. */
function setAt(root: unknown, path: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string | number, unknown>;
  }
  const last = path[path.length - 1] ?? 'revision';
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

/** Values that reach deep into the schemas: near-valid strings as well as any JSON. */
const interesting = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    '',
    ' ',
    'github',
    'GITHUB',
    'Host',
    'content-length',
    'X-Clef-Service',
    'a\r\nb',
    '/v1?x',
    '/v1#x',
    '[fe80::1%eth0]:443',
    'user@host',
    'host:0',
    '__proto__',
    'constructor',
  ),
);
const mutation = fc.tuple(fc.constantFrom(...SERVICE_PATHS), fc.option(interesting, { nil: undefined }));

describe('parseServicesDoc never throws', () => {
  it('on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        assertWellFormed(parseServicesDoc(value));
      }),
      { seed: 0x5e71, numRuns: RUNS },
    );
  });

  it('on arbitrary objects with a services array of arbitrary items', () => {
    const doc = fc.record({
      revision: fc.jsonValue({ maxDepth: 1 }),
      services: fc.array(fc.jsonValue({ maxDepth: 3 })),
    });
    fc.assert(
      fc.property(doc, (value) => {
        assertWellFormed(parseServicesDoc(value));
      }),
      { seed: 0x5e72, numRuns: RUNS },
    );
  });

  it('on mutations of a valid document', () => {
    expect(parseServicesDoc(validDoc()).ok).toBe(true);
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (edits) => {
        let doc: unknown = validDoc();
        for (const [path, value] of edits) doc = setAt(doc, path, value);
        assertWellFormed(parseServicesDoc(JSON.parse(JSON.stringify(doc) ?? 'null')));
      }),
      { seed: 0x5e73, numRuns: RUNS },
    );
  });
});

describe('named edge cases', () => {
  it.each([
    ['a credential header that frames the request', ['services', 1, 'auth', 'header'], 'Content-Length'],
    ['a credential header the proxy strips', ['services', 1, 'auth', 'header'], 'X-Clef-Service'],
    ['a prefix with CR LF', ['services', 1, 'auth', 'prefix'], 'Token\r\nX-Evil: 1'],
    ['a duplicate name in another case', ['services', 1, 'name'], 'GitHub'],
    ['a path prefix with a query', ['services', 0, 'path_prefix'], '/v1?x'],
    ['a zone-id host', ['services', 0, 'hosts', 0], '[fe80::1%eth0]:443'],
    ['an empty hosts list', ['services', 0, 'hosts'], []],
    ['an unknown field in a service', ['services', 2, 'extra'], true],
  ])('%s is refused with an issue', (_label, path, value) => {
    const r = parseServicesDoc(setAt(validDoc(), path as (string | number)[], value));
    assertWellFormed(r);
    expect(r.ok).toBe(false);
  });
});

// Counterexamples fast-check found while this suite was written (seeds 24178 and 24179 of the runs above): a
// service key made of a space is reported under a path that ends in that space. They tripped an over-strict
// path pattern in this test, not the parser; kept so the path format stays pinned.
describe('found by fuzzing', () => {
  it.each([
    ['a blank key in a service', { revision: {}, services: [{ ' ': null }] }],
    ['a blank key, no revision', { services: [{ ' ': false }] }],
  ])('%s: issues, each with a path', (_label, doc) => {
    const r = parseServicesDoc(doc);
    assertWellFormed(r);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues.some((line) => line.startsWith('services.0. : '))).toBe(true);
  });
});
