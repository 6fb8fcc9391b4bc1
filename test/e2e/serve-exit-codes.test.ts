/**
 * `clef-proxy serve` startup failures (SPEC §1): each exit code by spawning the CLI, the one-line
 * `clef-proxy: <what>: <why>` diagnostic, and the order of the checks (config 2 → tokens 4 → CA 5 → agent 3 → bind 6).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { WORKLOAD_TOKEN } from '../helpers/proxy.js';
import {
  type CliRun,
  cliBuild,
  removeCliBuild,
  runCli,
  spawnServe,
  stopAllServes,
} from '../helpers/serve.js';

const AGENT_TOKEN = 'e2e-agent-token';
const TOKENS = { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN };

let dir: string;
let caDir: string;
const servers: Server[] = [];
const agents: FixtureAgent[] = [];

beforeAll(() => cliBuild(), 120_000);
afterAll(removeCliBuild);
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clef-proxy-e2e-exit-'));
  caDir = join(dir, 'ca');
});
afterEach(async () => {
  await stopAllServes();
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

/** Bind 127.0.0.1:0 and keep it (for exit 6), or close it again to get a port nobody listens on. */
async function bindPort(keep: boolean): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  if (keep) servers.push(server);
  else await new Promise((r) => server.close(r));
  return port;
}

async function writeConfig(config: unknown, name = 'config.json'): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof config === 'string' ? config : JSON.stringify(config));
  return path;
}

/** A CA dir whose ca.crt is not a certificate (and a key beside it, so it is "present but corrupt"). */
async function corruptCa(): Promise<void> {
  await mkdir(caDir, { recursive: true, mode: 0o700 });
  await writeFile(
    join(caDir, 'ca.crt'),
    '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n',
  );
  await writeFile(join(caDir, 'ca.key'), 'garbage', { mode: 0o600 });
}

function serveWith(configPath: string, env: Record<string, string>): Promise<CliRun> {
  return runCli(['serve', '--config', configPath], { env: { CLEF_PROXY_CA_DIR: caDir, ...env } });
}

/**
 * The diagnostic contract: stdout empty; the first stderr line that is not a pino JSON log record (operational
 * lines such as `services loaded` may come before a later check fails) is `clef-proxy: …` with every `mentions`.
 */
function expectFailure(run: CliRun, code: number, ...mentions: string[]): string {
  expect({ code: run.code, stdout: run.stdout }).toEqual({ code, stdout: '' });
  const plain = run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{"level":'));
  const first = plain[0] ?? '';
  expect(first).toMatch(/^clef-proxy: \S/);
  for (const m of mentions) expect(first).toContain(m);
  // Anything more is detail for that one failure (every config issue, the last agent attempt), indented.
  for (const detail of plain.slice(1)) expect(detail).toMatch(/^ {2}\S/);
  return first;
}

/** Config and flag errors come before anything else is logged: the diagnostic is the very first line. */
function expectUsageFailure(run: CliRun, ...mentions: string[]): void {
  const first = expectFailure(run, 2, ...mentions);
  expect(run.stderr.split('\n')[0]).toBe(first);
}

async function closedAgentConfig(extra: Record<string, unknown> = {}): Promise<string> {
  const port = await bindPort(false);
  return writeConfig({
    listen: '127.0.0.1:0',
    agent: { url: `http://127.0.0.1:${port}`, ready_timeout_ms: 300 },
    ...extra,
  });
}

describe('exit 2: flags and config', () => {
  it('missing --config', async () => {
    expectUsageFailure(await runCli(['serve'], { env: TOKENS }), 'config');
  });

  it('unknown flag', async () => {
    const cfg = await closedAgentConfig();
    expectUsageFailure(await runCli(['serve', '--config', cfg, '--bogus'], { env: TOKENS }), 'bogus');
  });

  it.each([
    ['a missing file', async () => join(dir, 'absent.json'), 'no such file'],
    ['a directory', async () => dir, 'is a directory'],
    ['invalid JSON', () => writeConfig('{"listen": "127.0.0.1:0",\n  "agent": }'), 'invalid JSON at line 2'],
    ['an empty file', () => writeConfig(''), 'empty'],
  ])('unreadable or unparsable config: %s', async (_name, make, why) => {
    const path = await make();
    expectUsageFailure(await serveWith(path, TOKENS), path, why);
  });

  it('schema errors: every issue with its field path, the first on the clef-proxy line', async () => {
    const cfg = await writeConfig({
      listen: '127.0.0.1:0',
      limits: { max_connections: 'many' },
      agent: { url: 'http://127.0.0.1:1', ready_timeout_ms: -5 },
      surprise: true,
    });
    const run = await serveWith(cfg, TOKENS);
    expectUsageFailure(run, 'invalid config');
    const lines = run.stderr.trimEnd().split('\n');
    const paths = ['limits.max_connections', 'agent.ready_timeout_ms', 'surprise'];
    for (const p of paths) expect(lines.some((l) => l.includes(p))).toBe(true);
    expect(paths.some((p) => lines[0]!.includes(p))).toBe(true);
    expect(lines).toHaveLength(3);
  });

  it('a non-loopback agent URL', async () => {
    const cfg = await writeConfig({ listen: '127.0.0.1:0', agent: { url: 'http://192.0.2.1:7777' } });
    expectUsageFailure(await serveWith(cfg, TOKENS), 'agent');
  });
});

describe('exit 4: authentication misconfig', () => {
  it.each([
    ['CLEF_PROXY_AGENT_TOKEN missing', { CLEF_PROXY_TOKEN: WORKLOAD_TOKEN }, 'CLEF_PROXY_AGENT_TOKEN'],
    ['CLEF_PROXY_AGENT_TOKEN empty', { ...TOKENS, CLEF_PROXY_AGENT_TOKEN: '' }, 'CLEF_PROXY_AGENT_TOKEN'],
    ['CLEF_PROXY_TOKEN missing', { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN }, 'CLEF_PROXY_TOKEN'],
    ['CLEF_PROXY_TOKEN empty', { ...TOKENS, CLEF_PROXY_TOKEN: '' }, 'CLEF_PROXY_TOKEN'],
  ])('%s', async (_name, env, mention) => {
    expectFailure(await serveWith(await closedAgentConfig(), env), 4, mention);
  });

  it('the agent answers 401 to the first /v1/services (wrong agent token)', async () => {
    const agent = await startFixtureAgent({ data: { services: [] }, token: 'the-right-agent-token' });
    agents.push(agent);
    const cfg = await writeConfig({
      listen: '127.0.0.1:0',
      agent: { url: agent.url, ready_timeout_ms: 5000 },
    });
    const run = await serveWith(cfg, { ...TOKENS, CLEF_PROXY_AGENT_TOKEN: 'a-wrong-agent-token' });
    expectFailure(run, 4, 'token');
    expect(run.stderr).not.toContain('a-wrong-agent-token');
    expect((await agent.hits()).unauthorized).toBeGreaterThanOrEqual(1);
  });
});

describe('exit 5: CA', () => {
  it('a corrupt ca.crt in the CA dir is refused, and left in place', async () => {
    await corruptCa();
    expectFailure(await serveWith(await closedAgentConfig(), TOKENS), 5, caDir);
    expect(await readFile(join(caDir, 'ca.key'), 'utf8')).toBe('garbage');
  });
});

describe('exit 3: agent unreachable', () => {
  it('the agent URL names a closed loopback port', async () => {
    expectFailure(await serveWith(await closedAgentConfig(), TOKENS), 3, '/v1/ready');
  });

  it('the agent never becomes ready', async () => {
    const agent = await startFixtureAgent({
      data: { services: [] },
      token: AGENT_TOKEN,
      mode: { ready: false },
    });
    agents.push(agent);
    const cfg = await writeConfig({
      listen: '127.0.0.1:0',
      agent: { url: agent.url, ready_timeout_ms: 600 },
    });
    expectFailure(await serveWith(cfg, TOKENS), 3, 'ready');
    expect((await agent.hits()).ready).toBeGreaterThanOrEqual(1);
  });
});

describe('exit 6 and 0', () => {
  it('exit 6: the listen port is already bound', async () => {
    const agent = await startFixtureAgent({ data: { services: [] }, token: AGENT_TOKEN });
    agents.push(agent);
    const port = await bindPort(true);
    const cfg = await writeConfig({ listen: `127.0.0.1:${port}`, agent: { url: agent.url } });
    expectFailure(await serveWith(cfg, TOKENS), 6, String(port));
  });

  it('exit 6 from the primary with workers: 2 when the listen port is already bound', async () => {
    const agent = await startFixtureAgent({ data: { services: [] }, token: AGENT_TOKEN });
    agents.push(agent);
    const port = await bindPort(true);
    const cfg = await writeConfig({ listen: `127.0.0.1:${port}`, agent: { url: agent.url }, workers: 2 });
    expectFailure(await serveWith(cfg, TOKENS), 6, String(port));
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('exit 0 after %s with nothing in flight', async (signal) => {
    const agent = await startFixtureAgent({ data: { services: [] }, token: AGENT_TOKEN });
    agents.push(agent);
    const serve = await spawnServe({
      config: { listen: '127.0.0.1:0', agent: { url: agent.url } },
      env: { ...TOKENS, CLEF_PROXY_CA_DIR: caDir },
    });
    serve.kill(signal);
    expect(await serve.exit).toEqual({ code: 0, signal: null });
    expect(serve.stdoutLines).toEqual([]);
  });
});

describe('the first failing check decides the code (SPEC §1 order)', () => {
  it('invalid config AND no tokens ⇒ 2', async () => {
    const cfg = await writeConfig({ listen: '127.0.0.1:0', limits: { max_connections: 0 } });
    expectUsageFailure(await serveWith(cfg, {}), 'limits.max_connections');
  });

  it('tokens missing AND CA corrupt ⇒ 4', async () => {
    await corruptCa();
    expectFailure(await serveWith(await closedAgentConfig(), { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN }), 4);
  });

  it('CA corrupt AND agent down ⇒ 5', async () => {
    await corruptCa();
    expectFailure(await serveWith(await closedAgentConfig(), TOKENS), 5);
  });

  it('agent down AND port taken ⇒ 3', async () => {
    const port = await bindPort(true);
    const cfg = await closedAgentConfig({ listen: `127.0.0.1:${port}` });
    expectFailure(await serveWith(cfg, TOKENS), 3);
  });
});
