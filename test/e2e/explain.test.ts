/**
 * `clef-proxy explain` end to end (issue 12): the built CLI against the fixture agent, with the config and env a
 * `serve` would get. Checks the target decision, every candidate's verdict (wildcard precedence included), the
 * credential shape without any value, the route with the NO_PROXY entry that decided it, the exit codes, and that
 * no secret was fetched.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../src/pipeline/explain.js';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { runCli } from '../helpers/serve.js';

const AGENT_TOKEN = 'explain-agent-token-3c4d';
const SECRET = 'explain-secret-value-must-not-print';
const hex = (t: string) => createHash('sha256').update(t).digest('hex');

let dir: string;
let agent: FixtureAgent;
let config: string;
let env: Record<string, string>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clef-explain-e2e-'));
  agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [
        { name: 'gh', hosts: ['api.github.com'], auth: { type: 'bearer', secret: 'GH_TOKEN' } },
        {
          name: 'gh-admin',
          hosts: ['api.github.com'],
          path_prefix: '/admin',
          auth: { type: 'bearer', secret: 'GH_ADMIN' },
        },
        {
          name: 'wild',
          hosts: ['*.example.com'],
          auth: { type: 'api_key_header', header: 'X-Api-Key', secret: 'WILD', prefix: 'Key ' },
        },
        {
          name: 'deep',
          hosts: ['*.eu.example.com'],
          auth: { type: 'api_key_query', param: 'sig', secret: 'DEEP' },
          identities: ['ci-*'],
        },
        {
          name: 'basic',
          hosts: ['basic.test'],
          auth: { type: 'basic', username_secret: 'B_USER', secret: 'B_PASS' },
        },
        {
          name: 'tmpl',
          hosts: ['tmpl.test'],
          auth: { type: 'template', header: 'X-Sig', template: 'v1 {{secret:T_ID}}:{{secret:T_KEY}}' },
        },
      ],
      secrets: {
        GH_TOKEN: SECRET,
        GH_ADMIN: SECRET,
        WILD: SECRET,
        DEEP: SECRET,
        B_USER: SECRET,
        B_PASS: SECRET,
      },
      identities: [
        { name: 'ci-bot', token_sha256: hex('t') },
        { name: 'dev', token_sha256: hex('d') },
      ],
    },
  });
  config = join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      listen: '127.0.0.1:0',
      agent: { url: agent.url, ready_timeout_ms: 5000 },
      passthrough_hosts: ['registry.npmjs.org', 'plain.test:80'],
      upstream_proxy: {
        url: 'http://user:hunter2@proxy.corp:3128',
        no_proxy: 'internal.corp,.eu.example.com',
      },
    }),
  );
  env = { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN };
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function explain(...args: string[]) {
  const run = await runCli(['explain', ...args, '--config', config, '--json'], { env });
  expect(run.stderr).toBe('');
  expect(`${run.stdout}${run.stderr}`).not.toContain(SECRET);
  expect(run.stdout).not.toContain('hunter2');
  return { code: run.code, e: JSON.parse(run.stdout) as Explanation };
}

// Each case spawns the CLI one or more times: generous budgets for a loaded machine.
describe('clef-proxy explain', { timeout: 120_000 }, () => {
  it('an injected request: the candidates, the winner by longest path_prefix, the credential, the route', async () => {
    const { code, e } = await explain('https://api.github.com/admin/users?token=x', '--identity', 'ci-bot');
    expect(code).toBe(0);
    expect(e.request).toEqual({
      method: 'GET',
      scheme: 'https',
      host: 'api.github.com',
      port: 443,
      path: '/admin/users',
    });
    expect(e.identity).toEqual({ name: 'ci-bot', mode: 'agent', admitted: true });
    expect(e.target).toEqual({ decision: 'intercept', reason: 'service_host' });
    expect(e.candidates.map((c) => [c.service, c.outcome, c.reason])).toEqual([
      ['gh', 'lost', 'shorter_path_prefix'],
      ['gh-admin', 'chosen', 'longest_path_prefix'],
    ]);
    expect(e.credential).toEqual({
      type: 'bearer',
      header: 'Authorization',
      query: null,
      format: 'Bearer {{secret:GH_ADMIN}}',
      secrets: ['GH_ADMIN'],
    });
    expect(e.upstream).toEqual({ route: 'proxy', proxy: 'http://proxy.corp:3128', no_proxy_entry: null });
    expect(e.result).toEqual({ forwarded: true, decision: 'inject', code: null, status: null });
    const hits = await agent.hits();
    expect(Object.keys(hits).filter((k) => k.startsWith('secret:'))).toEqual([]);
  });

  it.each([
    [
      'https://basic.test/x',
      {
        type: 'basic',
        header: 'Authorization',
        query: null,
        format: 'Basic base64({{secret:B_USER}}:{{secret:B_PASS}})',
        secrets: ['B_USER', 'B_PASS'],
      },
    ],
    [
      'https://tmpl.test/x',
      {
        type: 'template',
        header: 'X-Sig',
        query: null,
        format: 'v1 {{secret:T_ID}}:{{secret:T_KEY}}',
        secrets: ['T_ID', 'T_KEY'],
      },
    ],
  ])('basic and template credentials: %s shows the shape and every secret name', async (url, credential) => {
    const { code, e } = await explain(url, '--identity', 'ci-bot');
    expect(code).toBe(0);
    expect(e.credential).toEqual(credential);
  });

  it('wildcard precedence: the longer suffix wins; NO_PROXY names the deciding entry; identity lists apply', async () => {
    const { code, e } = await explain('https://a.eu.example.com/x', '--identity', 'ci-bot');
    expect(code).toBe(0);
    expect(e.candidates.map((c) => [c.service, c.host_entry, c.host_match, c.outcome, c.reason])).toEqual([
      ['deep', '*.eu.example.com:443', 'wildcard', 'chosen', 'most_specific_host'],
      ['wild', '*.example.com:443', 'wildcard', 'lost', 'less_specific_host'],
    ]);
    expect(e.credential).toMatchObject({
      type: 'api_key_query',
      header: null,
      query: 'sig',
      secrets: ['DEEP'],
    });
    expect(e.upstream).toEqual({ route: 'direct', proxy: null, no_proxy_entry: '.eu.example.com' });

    const dev = await explain('https://a.eu.example.com/x', '--identity', 'dev');
    expect(dev.code).toBe(1);
    expect(dev.e.result).toEqual({
      forwarded: false,
      decision: 'deny',
      code: 'identity_not_allowed',
      status: 403,
    });
    expect(dev.e.credential).toBeNull();
  });

  it.each([
    ['an unlisted host', ['https://nowhere.test/'], 'host_not_allowed', 403],
    ['an unknown identity', ['https://api.github.com/', '--identity', 'nobody'], 'proxy_auth_required', 407],
    ['plain http to a service host', ['http://api.github.com/'], 'https_required', 403],
    ['a dot segment', ['https://api.github.com/a/../admin'], 'bad_request', 400],
  ])('%s: exit 1 with the code', async (_label, args, codeName, status) => {
    const { code, e } = await explain(
      ...args,
      ...(args.includes('--identity') ? [] : ['--identity', 'ci-bot']),
    );
    expect(code).toBe(1);
    expect(e.result).toMatchObject({ forwarded: false, code: codeName, status });
  });

  it('X-Clef-Service picks among candidates; a passthrough host is a tunnel via the proxy; plain http is forwarded', async () => {
    const picked = await explain(
      'https://api.github.com/admin',
      '--identity',
      'dev',
      '--header',
      'X-Clef-Service: gh',
    );
    expect(picked.e.candidates.map((c) => [c.service, c.reason])).toEqual([
      ['gh', 'x_clef_service'],
      ['gh-admin', 'x_clef_service_named_another'],
    ]);
    const tunnel = await explain('https://registry.npmjs.org/pkg', '--identity', 'dev');
    expect([tunnel.code, tunnel.e.target.decision, tunnel.e.upstream?.route]).toEqual([0, 'tunnel', 'proxy']);
    const plain = await explain('http://plain.test/', '--identity', 'dev');
    expect([plain.code, plain.e.target.decision, plain.e.result.decision]).toEqual([0, 'forward', 'forward']);
  });

  it('human output names the secret, never its value; failures keep the locked exit codes', async () => {
    const human = await runCli(
      ['explain', 'https://api.github.com/', '--identity', 'ci-bot', '--config', config],
      { env },
    );
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /^credential: bearer, header Authorization = Bearer \{\{secret:GH_TOKEN\}\}/m,
    );
    expect(human.stdout).toMatch(/^upstream: +via http:\/\/proxy\.corp:3128$/m);
    expect(human.stdout).not.toContain(SECRET);
    const usage = await runCli(['explain', 'ftp://x', '--config', config], { env });
    expect(usage.code).toBe(2);
    const noToken = await runCli(['explain', 'https://api.github.com/', '--config', config], { env: {} });
    expect(noToken.code).toBe(4);
    const downConfig = join(dir, 'down.json');
    await writeFile(
      downConfig,
      JSON.stringify({ listen: '127.0.0.1:0', agent: { url: 'http://127.0.0.1:9', ready_timeout_ms: 500 } }),
    );
    const down = await runCli(['explain', 'https://api.github.com/', '--config', downConfig], { env });
    expect([down.code, down.stderr]).toEqual([3, expect.stringMatching(/^clef-proxy: agent not ready/)]);
  });
});
