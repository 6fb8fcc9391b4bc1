/**
 * `/v1/identities` from the fixture agent through the real agent source (issue 12): 404 ⇒ no identities (the shared
 * workload token for every username); a document ⇒ per-identity tokens; ETag polling; a document that fails
 * validation, an error status or a later 404 keeps the last good table (warned); startup fails closed (exit 3/4).
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentSource, createAgentSource } from '../../../src/agent/agent-source.js';
import { ExitCode, StartupError } from '../../../src/exit-codes.js';
import { createLogger } from '../../../src/log/logger.js';
import { authenticate, prepareToken } from '../../../src/pipeline/authenticate.js';
import { type FixtureAgent, type FixtureData, startFixtureAgent } from '../../helpers/fixture-agent.js';

const TOKEN = 'identities-agent-token-5e1f';
const SHARED = prepareToken('shared-workload-token');
const hex = (t: string) => createHash('sha256').update(t).digest('hex');
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

function data(identities?: FixtureData['identities']): FixtureData {
  return {
    services: [{ name: 'gh', hosts: ['api.upstream.test'], auth: { type: 'bearer', secret: 'GH' } }],
    secrets: { GH: 'v' },
    ...(identities === undefined ? {} : { identities }),
  };
}

let agent: FixtureAgent | undefined;
let source: AgentSource | undefined;
afterEach(async () => {
  await source?.close();
  source = undefined;
  await agent?.stop();
  agent = undefined;
});

async function start(d: FixtureData, mode?: Parameters<FixtureAgent['setMode']>[0]) {
  agent = await startFixtureAgent({ data: d, token: TOKEN, ...(mode ? { mode } : {}) });
  const warnings: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        const rec = JSON.parse(line) as { level: number; msg: string };
        if (rec.level === 40) warnings.push(rec.msg);
      }
      done();
    },
  });
  const create = () =>
    createAgentSource({
      url: agent!.url,
      token: TOKEN,
      readyTimeoutMs: 5000,
      readyIntervalMs: 50,
      refreshMs: 60_000,
      secretTtlMs: 60_000,
      logger: createLogger('debug', stream),
    });
  return { create, warnings };
}

const whoAmI = (s: AgentSource, user: string, pass: string) =>
  authenticate(basic(user, pass), SHARED, s.identities?.());

describe('agent identities', () => {
  it('an agent answering 404 has no identities: every username shares the workload token', async () => {
    const { create } = await start(data());
    source = await create();
    expect(source.identities?.()).toBeUndefined();
    expect(whoAmI(source, 'ci-bot', 'shared-workload-token')).toEqual({ ok: true, identity: 'ci-bot' });
    expect((await agent!.hits()).identities).toBe(1);
  });

  it('a served document means per-identity tokens; polls send the ETag and adopt changes', async () => {
    const { create } = await start(data([{ name: 'ci-bot', token_sha256: hex('ci-token') }]));
    source = await create();
    expect(whoAmI(source, 'ci-bot', 'ci-token')).toEqual({ ok: true, identity: 'ci-bot' });
    expect(whoAmI(source, 'ci-bot', 'shared-workload-token')).toEqual({ ok: false });
    await source.refresh?.();
    expect((await agent!.hits()).identities_304).toBe(1);
    await agent!.setData(data([{ name: 'ci-bot', token_sha256: hex('rotated') }]));
    await source.refresh?.();
    expect(whoAmI(source, 'ci-bot', 'ci-token')).toEqual({ ok: false });
    expect(whoAmI(source, 'ci-bot', 'rotated')).toEqual({ ok: true, identity: 'ci-bot' });
  });

  it('an invalid document, a 500 and a later 404 keep the last good table, each with a warning', async () => {
    const { create, warnings } = await start(data([{ name: 'ci-bot', token_sha256: hex('ci-token') }]));
    source = await create();
    await agent!.setMode({ identities: 'invalid' });
    await source.refresh?.();
    await agent!.setMode({ identities: 'fail' });
    await source.refresh?.();
    await agent!.setMode({ identities: 'ok' });
    await agent!.setData(data());
    await source.refresh?.();
    expect(whoAmI(source, 'ci-bot', 'ci-token')).toEqual({ ok: true, identity: 'ci-bot' });
    expect(whoAmI(source, 'ci-bot', 'shared-workload-token')).toEqual({ ok: false });
    expect(warnings).toEqual([
      expect.stringMatching(/^identities document rejected .*token_sha256.*keeping the current identities$/),
      expect.stringMatching(/^identities refresh failed: .*500; keeping the current identities$/),
      expect.stringMatching(/^identities refresh failed: .*404; keeping the current identities$/),
    ]);
  });

  it('an agent that starts serving identities later switches to per-identity tokens', async () => {
    const { create } = await start(data());
    source = await create();
    await agent!.setData(data([{ name: 'late', token_sha256: hex('late-token') }]));
    await source.refresh?.();
    expect(whoAmI(source, 'late', 'late-token')).toEqual({ ok: true, identity: 'late' });
    expect(whoAmI(source, 'late', 'shared-workload-token')).toEqual({ ok: false });
  });

  it.each([
    ['fail', ExitCode.AgentUnreachable, /agent identities unavailable/],
    ['invalid', ExitCode.AgentUnreachable, /agent identities invalid/],
  ] as const)('startup with identities %s ⇒ exit %i', async (mode, code, message) => {
    const { create } = await start(data([{ name: 'a', token_sha256: hex('a') }]), { identities: mode });
    const err = await create().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as StartupError).code).toBe(code);
    expect((err as StartupError).message).toMatch(message);
  });
});
