import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AgentSource,
  type AgentSourceOptions,
  createAgentSource,
} from '../../../src/agent/agent-source.js';
import type { ServiceIndex } from '../../../src/agent/source.js';
import { ProxyError } from '../../../src/errors.js';
import { StartupError } from '../../../src/exit-codes.js';
import { createLogger } from '../../../src/log/logger.js';
import { type FixtureAgent, type FixtureData, startFixtureAgent } from '../../helpers/fixture-agent.js';

const TOKEN = 'source-test-token-41d8';
const VALUE = 'secret-value-0b7e';

function dataAt(revision: string, hosts = ['api.upstream.test']): FixtureData {
  return {
    revision,
    services: [{ name: 'gh', hosts, auth: { type: 'bearer', secret: 'GH' } }],
    secrets: { GH: VALUE },
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

/** A pino logger whose lines land in an array. */
function capture() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return {
    lines,
    logger: createLogger('debug', stream),
    warnings: () => lines.filter((l) => l.level === 40),
  };
}

async function start(opts: Partial<AgentSourceOptions> & { data?: FixtureData } = {}) {
  agent = await startFixtureAgent({ data: opts.data ?? dataAt('rev-1'), token: TOKEN });
  const log = capture();
  const options: AgentSourceOptions = {
    url: agent.url,
    token: TOKEN,
    readyTimeoutMs: 5000,
    readyIntervalMs: 50,
    refreshMs: 60_000,
    secretTtlMs: 60_000,
    logger: log.logger,
    ...opts,
  };
  return { agent, log, options };
}

async function startupError(p: Promise<unknown>): Promise<StartupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StartupError);
  expect((err as StartupError).message).not.toContain(TOKEN);
  return err as StartupError;
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await sleep(20);
}

describe('createAgentSource: startup (SPEC §1 exit codes)', () => {
  it('polls /v1/ready until the agent is ready, then loads the services', async () => {
    const { agent, options } = await start();
    await agent.setMode({ ready: false });
    const pending = createAgentSource(options);
    await until(async () => ((await agent.hits()).ready ?? 0) >= 3);
    await agent.setMode({ ready: true });
    source = await pending;
    expect(source.services().revision).toBe('rev-1');
    expect(source.services().byHost.has('api.upstream.test:443')).toBe(true);
  });

  it('gives up after ready_timeout_ms with exit code 3', async () => {
    const { agent, options } = await start({ readyTimeoutMs: 300 });
    await agent.setMode({ ready: false });
    const err = await startupError(createAgentSource(options));
    expect(err.code).toBe(3);
    expect(err.what).toBe('agent not ready');
    expect(err.message).toBe(
      `agent not ready: ${agent.url} did not answer 200 on /v1/ready within 300 ms (last attempt: answered a status other than 200)`,
    );
    expect(err.details).toEqual([]);
  });

  it('counts a refused connection as not ready (exit code 3)', async () => {
    const { agent, options } = await start({ readyTimeoutMs: 200 });
    await agent.stop();
    const err = await startupError(createAgentSource(options));
    expect(err.code).toBe(3);
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('maps a 401 on the first /v1/services to exit code 4', async () => {
    const { options } = await start();
    const err = await startupError(createAgentSource({ ...options, token: 'not-the-token-93ab' }));
    expect(err.code).toBe(4);
    expect(err.what).toBe('agent rejected the token');
    expect(err.message).not.toContain('not-the-token-93ab');
  });

  it.each([
    ['fail', 'agent services unavailable'],
    ['unavailable', 'agent services unavailable'],
    ['garbage', 'agent services unavailable'],
    ['invalid', 'agent services invalid'],
  ] as const)('maps a %s first /v1/services to exit code 3', async (mode, what) => {
    const { agent, options } = await start();
    await agent.setMode({ services: mode });
    const err = await startupError(createAgentSource(options));
    expect(err.code).toBe(3);
    expect(err.what).toBe(what);
    if (mode === 'invalid') expect(err.details.some((d) => d.startsWith('services.0.name: '))).toBe(true);
  });

  it('refuses a non-loopback agent URL with exit code 2', async () => {
    const { options } = await start();
    const err = await startupError(createAgentSource({ ...options, url: 'http://192.0.2.1:7777' }));
    expect(err.code).toBe(2);
  });
});

describe('createAgentSource: services refresh', () => {
  it('sends If-None-Match and gets 304 when nothing changed', async () => {
    const { agent, options } = await start();
    source = await createAgentSource(options);
    await source.refresh?.();
    await source.refresh?.();
    const hits = await agent.hits();
    expect(hits.services_200).toBe(1);
    expect(hits.services_304).toBe(2);
  });

  it.each(['fail', 'unavailable', 'garbage', 'invalid'] as const)(
    'keeps the last good set and logs a warning when the agent turns %s',
    async (mode) => {
      const { agent, options, log } = await start();
      source = await createAgentSource(options);
      await agent.setMode({ services: mode });
      await source.refresh?.();
      expect(source.services().revision).toBe('rev-1');
      expect(source.services().services.map((s) => s.name)).toEqual(['gh']);
      const warning = log.warnings()[0]?.msg ?? '';
      expect(warning).toMatch(/keeping services revision rev-1$/);
      expect(warning).not.toContain(TOKEN);
    },
  );

  it('picks up a new revision and notifies subscribers', async () => {
    const { agent, options } = await start();
    source = await createAgentSource(options);
    const seen: ServiceIndex[] = [];
    source.onServices?.((index) => seen.push(index));
    await agent.setData(dataAt('rev-2', ['api.upstream.test', 'other.upstream.test:8443']));
    await source.refresh?.();
    expect(source.services().revision).toBe('rev-2');
    expect(source.services().byHost.has('other.upstream.test:8443')).toBe(true);
    expect(seen.map((i) => i.revision)).toEqual(['rev-2']);
  });

  it('sees a data file reloaded by the agent on SIGHUP', async () => {
    const { agent, options } = await start();
    source = await createAgentSource(options);
    await agent.reload(dataAt('rev-from-file'));
    await source.refresh?.();
    expect(source.services().revision).toBe('rev-from-file');
  });

  it('polls on its own every refreshMs, and close() stops it', async () => {
    const { agent, options } = await start({ refreshMs: 50 });
    source = await createAgentSource(options);
    await agent.setData(dataAt('rev-3'));
    await until(async () => source?.services().revision === 'rev-3');
    await source.close();
    const before = (await agent.hits()).services ?? 0;
    await sleep(200);
    expect((await agent.hits()).services ?? 0).toBe(before);
  });
});

describe('createAgentSource: secrets (SPEC §5 cache)', () => {
  it('serves a second get within the TTL from memory, synchronously', async () => {
    const { agent, options } = await start();
    source = await createAgentSource(options);
    expect(await source.secret('GH')).toBe(VALUE);
    expect(source.secret('GH')).toBe(VALUE);
    expect((await agent.hits())['secret:GH']).toBe(1);
  });

  it('fetches again once a short real TTL has passed', async () => {
    const { agent, options } = await start({ secretTtlMs: 100 });
    source = await createAgentSource(options);
    expect(await source.secret('GH')).toBe(VALUE);
    await sleep(250);
    expect(await source.secret('GH')).toBe(VALUE);
    expect((await agent.hits())['secret:GH']).toBe(2);
  });

  it.each([60_000, 0])('shares one fetch among 10 concurrent gets (ttl %i)', async (secretTtlMs) => {
    const { agent, options } = await start({ secretTtlMs });
    source = await createAgentSource(options);
    const values = await Promise.all(Array.from({ length: 10 }, () => source?.secret('GH')));
    expect(values).toEqual(Array(10).fill(VALUE));
    expect((await agent.hits())['secret:GH']).toBe(1);
  });

  it('with ttl 0 fetches on every request', async () => {
    const { agent, options } = await start({ secretTtlMs: 0 });
    source = await createAgentSource(options);
    for (let i = 0; i < 3; i++) expect(await source.secret('GH')).toBe(VALUE);
    expect((await agent.hits())['secret:GH']).toBe(3);
  });

  it.each([
    ['unknown key (404)', {}, 'NOPE'],
    ['revoked token (401)', { secrets: 'unauthorized' }, 'GH'],
    ['agent not ready (503)', { ready: false }, 'GH'],
    ['agent failure (500)', { secrets: 'fail' }, 'GH'],
    ['non-JSON body', { secrets: 'garbage' }, 'GH'],
    ['body naming another key', { secrets: 'mismatch' }, 'GH'],
  ] as const)('fails closed with credential_unavailable on %s', async (_label, mode, key) => {
    const { agent, options } = await start();
    source = await createAgentSource(options);
    await agent.setMode(mode);
    const err = await Promise.resolve(source.secret(key)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).code).toBe('credential_unavailable');
    expect((err as ProxyError).message).not.toContain(TOKEN);
    expect((err as ProxyError).message).not.toContain(VALUE);
    // Not cached: once the agent is healthy again the same key is fetched anew.
    await agent.setMode({ ready: true, secrets: 'ok' });
    if (key === 'GH') expect(await source.secret('GH')).toBe(VALUE);
  });
});
