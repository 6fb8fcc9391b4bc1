import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_AGENT_PATH, startFixtureAgent } from '../../helpers/fixture-agent.js';

const data = { services: [], secrets: { K: 'v' } };
let dir: string;
let dataFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clef-fixture-agent-test-'));
  dataFile = join(dir, 'data.json');
  await writeFile(dataFile, JSON.stringify(data));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Run the fixture to completion (for invocations that must fail fast). */
async function run(args: string[], env: Record<string, string> = {}) {
  const { CLEF_PROXY_AGENT_TOKEN: _drop, ...base } = process.env;
  const child = spawn(process.execPath, [FIXTURE_AGENT_PATH, ...args], { env: { ...base, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => {
    stdout += c;
  });
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('fixtures/agent/agent.mjs', () => {
  it.each([
    ['no token', ['--data', 'DATA'], {}],
    ['empty token', ['--data', 'DATA'], { CLEF_PROXY_AGENT_TOKEN: '' }],
    ['no --data', [], { CLEF_PROXY_AGENT_TOKEN: 't' }],
    ['unreadable data file', ['--data', '/nonexistent/x.json'], { CLEF_PROXY_AGENT_TOKEN: 't' }],
    ['unknown flag', ['--data', 'DATA', '--bogus'], { CLEF_PROXY_AGENT_TOKEN: 't' }],
  ])('exits 2 on %s, with nothing on stdout', async (_label, args, env) => {
    const result = await run(
      args.map((a) => (a === 'DATA' ? dataFile : a)),
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^fixture-agent: /);
  });

  it('prints exactly one JSON url line, binds 127.0.0.1, accepts --token, and exits 0 on SIGTERM', async () => {
    const agent = await startFixtureAgent({ data, token: 'flag-token', tokenFlag: true });
    let stdout = '';
    agent.process.stdout?.on('data', (c) => {
      stdout += c;
    });
    expect(agent.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ok = await fetch(`${agent.url}/v1/secrets/K`, { headers: { authorization: 'Bearer flag-token' } });
    expect(await ok.json()).toEqual({ key: 'K', value: 'v' });
    const bad = await fetch(`${agent.url}/v1/secrets/K`, { headers: { authorization: 'Bearer other' } });
    expect(bad.status).toBe(401);
    expect(await agent.stop()).toBe(0);
    expect(stdout).toBe('');
  });

  it('guards the test-only endpoints with the token too', async () => {
    const agent = await startFixtureAgent({ data });
    try {
      const res = await fetch(`${agent.url}/_fixture/hits`);
      expect(res.status).toBe(401);
    } finally {
      await agent.stop();
    }
  });

  it('keeps the old data when a SIGHUP reload finds a broken file', async () => {
    const agent = await startFixtureAgent({ data: { ...data, revision: 'good' } });
    try {
      await writeFile(agent.dataFile, '{ broken');
      await expect(agent.reload({ services: 'nope' } as never)).rejects.toThrow(/reload failed/);
      const res = await fetch(`${agent.url}/v1/services`, {
        headers: { authorization: `Bearer ${agent.token}` },
      });
      expect(((await res.json()) as { revision: string }).revision).toBe('good');
    } finally {
      await agent.stop();
    }
  });
});
