/**
 * AWS Lambda rules (SPEC §9) on the real CLI: under Lambda (`AWS_LAMBDA_FUNCTION_NAME` non-empty)
 * `--lambda-loopback-only` or `CLEF_PROXY_LAMBDA_LOOPBACK=1` waive workload auth, `listen` must be loopback (exit 2)
 * and the drain defaults to 1500 ms; outside Lambda both switches are ignored with a warning and auth stays required.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { basicAuth, connectThrough, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import {
  cliBuild,
  removeCliBuild,
  runCli,
  type ServeProcess,
  type SpawnServeOptions,
  spawnServe,
  stopAllServes,
} from '../helpers/serve.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import {
  FIXTURE_CA_PEM,
  fixturePath,
  startUpstream,
  TEST_ALLOW_PRIVATE,
  type TestUpstream,
} from '../helpers/upstream.js';

const AGENT_TOKEN = 'lambda-e2e-agent-token';
const SECRET = 'lambda-e2e-secret';

let upstream: TestUpstream;
let agent: FixtureAgent;
let dir: string;
let seq = 0;

beforeAll(async () => {
  await cliBuild();
  dir = await mkdtemp(join(tmpdir(), 'clef-lambda-e2e-'));
  upstream = await startUpstream();
  agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [
        { name: 'svc', hosts: [`localhost:${upstream.port}`], auth: { type: 'bearer', secret: 'K' } },
      ],
      secrets: { K: SECRET },
    },
  });
}, 120_000);
afterAll(async () => {
  await agent?.stop();
  await upstream?.close();
  await removeCliBuild();
  await rm(dir, { recursive: true, force: true });
});
afterEach(stopAllServes);

function config(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    agent: { url: agent.url },
    passthrough_hosts: [`127.0.0.1:${upstream.port}`],
    upstream_ca_file: fixturePath('ca.crt'),
    // The upstream is reached as `localhost`: loopback must be allowed through the destination guard.
    egress: { allow_private: [...TEST_ALLOW_PRIVATE] },
    ...extra,
  };
}

async function configFile(cfg: Record<string, unknown>): Promise<string> {
  const path = join(dir, `config-${++seq}.json`);
  await writeFile(path, JSON.stringify(cfg));
  return path;
}

/** Spawn serve with a fresh CA directory; resolves with the process and the CA certificate clients must trust. */
async function start(opts: SpawnServeOptions): Promise<{ sp: ServeProcess; ca: string }> {
  const caDir = join(dir, `ca-${++seq}`);
  const sp = await spawnServe({ ...opts, env: { ...opts.env, CLEF_PROXY_CA_DIR: caDir } });
  return { sp, ca: await readFile(join(caDir, 'ca.crt'), 'utf8') };
}

const LAMBDA = { AWS_LAMBDA_FUNCTION_NAME: 'my-function' };
const AGENT_ENV = { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN };

/** SIGTERM and return the `draining` log line's `drain_timeout_ms`; the process must then exit 0. */
async function drainTimeout(sp: ServeProcess): Promise<unknown> {
  sp.kill('SIGTERM');
  const line = await sp.waitForLog((r) => r.msg === 'draining');
  expect((await sp.exit).code).toBe(0);
  return line.drain_timeout_ms;
}

/** An intercepted request and a tunnel, neither carrying Proxy-Authorization. */
async function expectWorksWithoutAuth(sp: ServeProcess, ca: string): Promise<void> {
  const res = await httpsRequestThrough(
    sp.port,
    `localhost:${upstream.port}`,
    { path: '/x' },
    { ca, auth: null },
  );
  expect(res.status).toBe(200);
  expect(res.json<{ headers: { authorization?: string } }>().headers.authorization).toBe(`Bearer ${SECRET}`);
  const tunnel = await httpsRequestThrough(
    sp.port,
    `127.0.0.1:${upstream.port}`,
    // Keep-alive: the client closes first, so the tunnel ends at once and the drain has nothing to wait for.
    { path: '/t', headers: { connection: 'keep-alive' } },
    { ca: FIXTURE_CA_PEM, auth: null },
  );
  expect(tunnel.status).toBe(200);
}

describe('under AWS Lambda', () => {
  it('--lambda-loopback-only and no CLEF_PROXY_TOKEN: starts, no Proxy-Authorization needed, drain 1500 ms', async () => {
    const { sp, ca } = await start({
      config: config(),
      env: { ...LAMBDA, ...AGENT_ENV },
      args: ['--lambda-loopback-only'],
    });
    await expectWorksWithoutAuth(sp, ca);
    expect(await drainTimeout(sp)).toBe(1500);
  });

  it('CLEF_PROXY_LAMBDA_LOOPBACK=1 does the same; an explicit drain_timeout_ms still wins', async () => {
    const { sp, ca } = await start({
      config: config({ drain_timeout_ms: 2500 }),
      env: { ...LAMBDA, ...AGENT_ENV, CLEF_PROXY_LAMBDA_LOOPBACK: '1' },
    });
    await expectWorksWithoutAuth(sp, ca);
    expect(await drainTimeout(sp)).toBe(2500);
  });

  it('without the waiver, auth stays required (CLEF_PROXY_TOKEN missing: exit 4)', async () => {
    const run = await runCli(['serve', '--config', await configFile(config())], {
      env: { ...LAMBDA, ...AGENT_ENV },
    });
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/^clef-proxy: authentication misconfigured: .*CLEF_PROXY_TOKEN/m);
  });

  it('a non-loopback listen (0.0.0.0:0) is exit 2', async () => {
    const run = await runCli(
      ['serve', '--config', await configFile(config({ listen: '0.0.0.0:0' })), '--lambda-loopback-only'],
      {
        env: { ...LAMBDA, ...AGENT_ENV, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN },
      },
    );
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^clef-proxy: invalid config: .*listen.*loopback/m);
  });
});

describe('outside AWS Lambda', () => {
  it('the flag and CLEF_PROXY_LAMBDA_LOOPBACK are ignored with a warning each; auth stays required; drain 10000 ms', async () => {
    const { sp } = await start({
      config: config(),
      env: { ...AGENT_ENV, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN, CLEF_PROXY_LAMBDA_LOOPBACK: '1' },
      args: ['--lambda-loopback-only'],
    });
    const warnings = sp.stderrLines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((r) => r.level === 40);
    expect(warnings.map((w) => w.msg)).toEqual([
      expect.stringMatching(/^--lambda-loopback-only ignored: not running under AWS Lambda/),
      expect.stringMatching(/^CLEF_PROXY_LAMBDA_LOOPBACK ignored: not running under AWS Lambda/),
    ]);
    const target = `127.0.0.1:${upstream.port}`;
    const refused = await connectThrough(sp.port, target, null);
    refused.socket.destroy();
    expect(refused.status).toBe(407);
    const allowed = await connectThrough(sp.port, target, basicAuth());
    allowed.socket.destroy();
    expect(allowed.status).toBe(200);
    expect(await drainTimeout(sp)).toBe(10_000);
  });

  it('the flag with no CLEF_PROXY_TOKEN is exit 4 (an empty AWS_LAMBDA_FUNCTION_NAME is not Lambda)', async () => {
    const run = await runCli(['serve', '--config', await configFile(config()), '--lambda-loopback-only'], {
      env: { ...AGENT_ENV, AWS_LAMBDA_FUNCTION_NAME: '' },
    });
    expect(run.code).toBe(4);
    // The one failure line says why the flag did not help.
    expect(run.stderr).toMatch(
      /^clef-proxy: authentication misconfigured: CLEF_PROXY_TOKEN is not set \(the Lambda waiver applies only under AWS Lambda\)$/m,
    );
  });
});
