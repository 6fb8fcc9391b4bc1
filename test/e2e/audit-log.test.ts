/**
 * The audit log of a real `clef-proxy serve` (SPEC §10): one run with the stdout sink, one with a rotating file
 * sink. Each traffic step below makes exactly one event; every line is parsed and every field of every event is
 * checked, in the documented order (docs/audit.md), and the file sink keeps every event across rotation, 0600.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { basicAuth, connectThrough, connectTo, readAll, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, type ServeProcess, spawnServe, stopAllServes } from '../helpers/serve.js';
import { exchangeRaw, httpsRequestThrough } from '../helpers/tls-client.js';
import { FIXTURE_CA_PEM, fixturePath, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const AGENT_TOKEN = 'audit-e2e-agent-token';
/** Without it Node's client sends `Connection: close` and the upstream, not the client, closes the tunnel first. */
const KEEP_ALIVE = { connection: 'keep-alive' };
const ORDER = {
  request:
    'schema_version ts event conn_id request_id client identity method host port path service auth_type secret_ref decision reason status bytes_in bytes_out duration_ms via_upstream_proxy',
  tunnel:
    'schema_version ts event conn_id client identity host port decision reason bytes_in bytes_out duration_ms via_upstream_proxy',
  deny: 'schema_version ts event conn_id client identity host port decision reason status',
} as const;

let upstream: TestUpstream;
let agent: FixtureAgent;
let dir: string;
let U: number;

beforeAll(async () => {
  await cliBuild();
  upstream = await startUpstream();
  U = upstream.port;
  const bearer = { type: 'bearer', secret: 'K_SVC' };
  const missing = { type: 'bearer', secret: 'K_MISSING' };
  agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [
        { name: 'svc', hosts: [`localhost:${U}`], path_prefix: '/v1', auth: bearer },
        { name: 'amb1', hosts: ['amb.test'], auth: bearer },
        { name: 'amb2', hosts: ['amb.test'], auth: bearer },
        { name: 'only', hosts: ['only.test'], path_prefix: '/only', auth: missing },
      ],
      secrets: { K_SVC: 'audit-e2e-secret' },
    },
  });
}, 120_000);
afterAll(async () => {
  await agent?.stop();
  await upstream?.close();
  await removeCliBuild();
});
afterEach(stopAllServes);

async function serve(audit: unknown): Promise<{ sp: ServeProcess; ca: string; caDir: string }> {
  const caDir = join(dir, `ca-${Date.now()}`);
  const sp = await spawnServe({
    config: {
      listen: '127.0.0.1:0',
      agent: { url: agent.url },
      passthrough_hosts: [`localhost:${U}`, `127.0.0.1:${U}`],
      audit,
      upstream_ca_file: fixturePath('ca.crt'),
      limits: { header_timeout_ms: 400 },
    },
    env: { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN, CLEF_PROXY_CA_DIR: caDir },
  });
  return { sp, ca: await readFile(join(caDir, 'ca.crt'), 'utf8'), caDir };
}

type Ev = Record<string, unknown>;
const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
const CONN = expect.stringMatching(/^c\d+$/);
const CLIENT = expect.stringMatching(/^127\.0\.0\.1:\d{1,5}$/);
const NUM = expect.any(Number);
const ONLY = { service: 'only', auth_type: 'bearer', secret_ref: 'K_MISSING' };
const SVC = { service: 'svc', auth_type: 'bearer', secret_ref: 'K_SVC' };

/** The test's `Proxy-Authorization` username: the identity of every connection that authenticated (issue 12). */
const IDENTITY = 'workload';
/** Refusals that come before the workload authenticated: no identity is known. */
const BEFORE_AUTH: ReadonlySet<string> = new Set(['proxy_auth_required', 'bad_request', 'header_timeout']);

function base(
  event: string,
  host: string | null,
  port: number | null,
  identity: string | null = IDENTITY,
): Ev {
  return { schema_version: 1, ts: ISO, event, conn_id: CONN, client: CLIENT, identity, host, port };
}
/** A `Proxy-Authorization` header line with the test token. */
const PA = () => `Proxy-Authorization: ${basicAuth()}\r\n`;
const NONE = { service: null, auth_type: null, secret_ref: null, bytes_in: 0, bytes_out: 0 };
const TIMING = { duration_ms: NUM, via_upstream_proxy: false };
function req(host: string, port: number, path: string, rest: Ev): Ev {
  const head = { ...base('request', host, port), request_id: expect.any(String), method: 'GET', path };
  return { ...head, ...NONE, ...TIMING, ...rest };
}
type Target = readonly [host: string | null, port: number | null];
function deny(reason: string, [host, port]: Target, status?: number): Ev {
  const identity = BEFORE_AUTH.has(reason) ? null : IDENTITY;
  return { ...base('deny', host, port, identity), decision: 'deny', reason, ...(status ? { status } : {}) };
}

/** One step of traffic and the one event it must produce. */
interface Step {
  readonly name: string;
  run(port: number, ca: string): Promise<void>;
  readonly expected: () => Ev;
}

const get = (port: number, ca: string, target: string, path: string, headers: Record<string, string> = {}) =>
  httpsRequestThrough(port, target, { path, headers }, { ca });

const STEPS: Step[] = [
  {
    name: 'inject',
    run: async (p, ca) =>
      expect((await get(p, ca, `localhost:${U}`, '/v1/items?api_key=q1')).status).toBe(200),
    expected: () =>
      req('localhost', U, '/v1/items', { ...SVC, decision: 'inject', status: 200, bytes_out: NUM }),
  },
  {
    name: 'forward (passthrough host that is also a service host, no path match)',
    run: async (p, ca) => expect((await get(p, ca, `localhost:${U}`, '/other?x=1')).status).toBe(200),
    expected: () => req('localhost', U, '/other', { decision: 'forward', status: 200, bytes_out: NUM }),
  },
  ...(
    [
      ['ambiguous_service', 'amb.test:443', '/a', {}, 400],
      ['no_matching_service', 'only.test:443', '/zzz', {}, 403],
      ['credential_unavailable', 'only.test:443', '/only/x', {}, 503],
      ['misdirected_request', 'only.test:443', '/only/m', { host: 'amb.test' }, 421],
    ] as const
  ).map(
    ([code, target, path, headers, status]): Step => ({
      name: `request deny ${code}`,
      run: async (p, ca) => expect((await get(p, ca, target, path, headers)).status).toBe(status),
      expected: () =>
        req(target.split(':')[0]!, 443, path, {
          decision: 'deny',
          reason: code,
          status,
          ...(code === 'credential_unavailable' ? ONLY : {}),
        }),
    }),
  ),
  {
    name: 'request deny https_required (plain http:// to a service host)',
    run: async (p) => {
      const s = await connectTo(p);
      s.write(
        `GET http://localhost:${U}/v1/p?t=1 HTTP/1.1\r\nHost: localhost:${U}\r\nProxy-Authorization: ${basicAuth()}\r\nConnection: close\r\n\r\n`,
      );
      expect((await readAll(s)).toString('latin1')).toMatch(/^HTTP\/1\.1 403 /);
    },
    expected: () => req('localhost', U, '/v1/p', { decision: 'deny', reason: 'https_required', status: 403 }),
  },
  {
    name: 'tunnel',
    run: async (p) => {
      // End to end TLS with the upstream (the fixture CA, not the proxy's). Keep-alive, so the client closes first
      // and the tunnel's end never hangs on the half-close grace.
      const res = await httpsRequestThrough(
        p,
        `127.0.0.1:${U}`,
        { path: '/t', headers: KEEP_ALIVE },
        { ca: FIXTURE_CA_PEM },
      );
      expect(res.status).toBe(200);
    },
    expected: () => ({
      ...base('tunnel', '127.0.0.1', U),
      decision: 'tunnel',
      bytes_in: NUM,
      bytes_out: NUM,
      ...TIMING,
    }),
  },
  ...(
    [
      [
        'proxy_auth_required',
        () => `CONNECT localhost:${U} HTTP/1.1\r\n\r\n`,
        407,
        () => ['localhost', U] as const,
      ],
      [
        'host_not_allowed',
        () => `CONNECT nowhere.test:443 HTTP/1.1\r\n${PA()}\r\n`,
        403,
        (): Target => ['nowhere.test', 443],
      ],
      ['bad_request', () => 'BREW /pot HTTP/1.1\r\n\r\n', 400, (): Target => [null, null]],
    ] as const
  ).map(
    ([code, head, status, target]): Step => ({
      name: `deny ${code}`,
      run: async (p) => {
        const text = (await exchangeRaw(await connectTo(p), head())).toString('latin1');
        expect(text).toMatch(new RegExp(`^HTTP/1\\.1 ${status} [\\s\\S]*"error":"${code}"`));
      },
      expected: () => deny(code, target(), status),
    }),
  ),
  {
    name: 'deny sni_mismatch',
    run: async (p, ca) => {
      const { socket } = await connectThrough(p, `localhost:${U}`);
      const tls = tlsConnect({ socket, servername: 'amb.test', ca });
      await new Promise((r) => tls.once('close', r).on('error', () => {}));
    },
    expected: () => deny('sni_mismatch', ['localhost', U]),
  },
  {
    name: 'deny not_tls',
    run: async (p) =>
      void (await exchangeRaw((await connectThrough(p, `localhost:${U}`)).socket, 'hello\r\n\r\n')),
    expected: () => deny('not_tls', ['localhost', U]),
  },
  {
    name: 'deny header_timeout (400 ms)',
    run: async (p) => void (await exchangeRaw(await connectTo(p), 'CONNECT loc')),
    expected: () => deny('header_timeout', [null, null]),
  },
];

/** Run every step, each waiting until its event has been written (`count()` events so far). */
async function runSteps(port: number, ca: string, count: () => Promise<number>): Promise<void> {
  for (const [i, step] of STEPS.entries()) {
    await step.run(port, ca);
    const until = Date.now() + 10_000;
    while ((await count()) < i + 1) {
      if (Date.now() > until) throw new Error(`no audit event after step "${step.name}"`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** Parse and check every line against the steps, in order. */
function checkLines(lines: string[]): void {
  expect(lines).toHaveLength(STEPS.length);
  for (const [i, line] of lines.entries()) {
    const ev = JSON.parse(line) as Ev;
    const step = STEPS[i]!;
    expect(ev, step.name).toEqual(step.expected());
    const order = ORDER[ev.event as keyof typeof ORDER].split(' ').filter((k) => k in ev);
    expect(Object.keys(ev), step.name).toEqual(order);
    if (ev.event !== 'deny') expect(ev.duration_ms as number).toBeGreaterThanOrEqual(0);
    if (ev.event === 'request') expect(ev.request_id).toBe(`${ev.conn_id}.1`);
  }
  const tunnel = JSON.parse(lines[STEPS.findIndex((s) => s.name === 'tunnel')]!) as Ev;
  expect((tunnel.bytes_in as number) > 0 && (tunnel.bytes_out as number) > 0).toBe(true);
}

describe('audit log from `clef-proxy serve`', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'clef-audit-e2e-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('stdout sink: one valid line per event, every field per SPEC §10, nothing else on stdout', async () => {
    const { sp, ca } = await serve({ sink: 'stdout' });
    await runSteps(sp.port, ca, async () => sp.stdoutLines.length);
    sp.kill('SIGTERM');
    expect((await sp.exit).code).toBe(0);
    checkLines(sp.stdoutLines);
    // Audit lines never go to the operational stream.
    expect(sp.stderrLines.some((l) => l.includes('"schema_version"'))).toBe(false);
    expect(sp.stderrLines.some((l) => l.includes('"msg":"listening"'))).toBe(true);
  });

  it('file sink with tiny max_bytes: every event kept across path, path.1 … path.N, all 0600', async () => {
    const path = join(dir, 'audit.log');
    const maxBytes = 700;
    const { sp, ca } = await serve({ sink: 'file', path, max_bytes: maxBytes, max_files: 40 });
    const files = async () => {
      const names = (await readdir(dir)).filter((n) => n === 'audit.log' || /^audit\.log\.\d+$/.test(n));
      // Oldest first: path.N … path.1, then path.
      return names
        .sort((a, b) => Number(b.split('.')[2] ?? 0) - Number(a.split('.')[2] ?? 0))
        .map((n) => join(dir, n));
    };
    const lines = async () => {
      const all: string[] = [];
      for (const f of await files())
        all.push(...(await readFile(f, 'utf8').catch(() => '')).split('\n').filter(Boolean));
      return all;
    };
    await runSteps(sp.port, ca, async () => (await lines()).length);
    sp.kill('SIGTERM');
    expect((await sp.exit).code).toBe(0);

    expect(sp.stdoutLines).toEqual([]);
    const found = await files();
    expect(found.length).toBeGreaterThanOrEqual(3);
    for (const f of found) {
      const st = await stat(f);
      expect([f, st.mode & 0o777]).toEqual([f, 0o600]);
      expect(st.size).toBeLessThanOrEqual(maxBytes);
    }
    checkLines(await lines());
  });
});
