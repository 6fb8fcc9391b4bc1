/**
 * Interception with secrets from the real fixture agent (SPEC §5) through `createAgentSource`: a secret the agent
 * cannot give fails the request closed (503 `credential_unavailable`, upstream never contacted), and the
 * `secret_ttl_ms` cache shows in the agent's hit counter.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentSource, createAgentSource } from '../../../src/agent/agent-source.js';
import type { RequestEvent } from '../../../src/audit/events.js';
import { silentLogger } from '../../../src/log/logger.js';
import {
  type FixtureAgent,
  type FixtureData,
  type FixtureMode,
  startFixtureAgent,
} from '../../helpers/fixture-agent.js';
import { startTestProxy, type TestProxy } from '../../helpers/proxy.js';
import { httpsRequestThrough, type ThroughResponse } from '../../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.js';

let upstream: TestUpstream;
let agent: FixtureAgent;
let data: FixtureData;
let source: AgentSource | undefined;
let proxy: TestProxy | undefined;

beforeAll(async () => {
  upstream = await startUpstream();
  data = {
    services: [
      { name: 'known', hosts: [`api.upstream.test:${upstream.port}`], auth: { type: 'bearer', secret: 'K' } },
      {
        name: 'unknown',
        hosts: [`other.upstream.test:${upstream.port}`],
        auth: { type: 'bearer', secret: 'NOPE' },
      },
    ],
    secrets: { K: 'agent-value-1' },
  };
  agent = await startFixtureAgent({ data });
});

afterAll(async () => {
  await agent?.stop();
  await upstream?.close();
});

afterEach(async () => {
  await proxy?.close();
  await source?.close();
  proxy = undefined;
  source = undefined;
  await agent.setMode({ ready: true, secrets: 'ok' });
  await agent.setData(data);
  await agent.resetHits();
  upstream.received.length = 0;
});

async function start(secretTtlMs: number) {
  source = await createAgentSource({
    url: agent.url,
    token: agent.token,
    readyTimeoutMs: 5_000,
    refreshMs: 60_000,
    secretTtlMs,
    logger: silentLogger(),
  });
  proxy = await startTestProxy({ source });
  const px = proxy;
  const connectionsBefore = upstream.connections;
  return {
    px,
    send: (host = 'api.upstream.test') =>
      httpsRequestThrough(px.port, `${host}:${upstream.port}`, { path: '/s' }, { ca: px.proxy.caCertPem }),
    upstreamContacted: () => upstream.connections > connectionsBefore || upstream.received.length > 0,
  };
}

function expectUnavailable(res: ThroughResponse): void {
  expect(res.status).toBe(503);
  expect(res.headers['x-clef-proxy-error']).toBe('credential_unavailable');
  expect(res.json()).toMatchObject({ error: 'credential_unavailable' });
}

describe('a secret the agent cannot give fails closed', () => {
  it('unknown key (agent 404): 503 credential_unavailable, upstream never contacted', async () => {
    const { px, send, upstreamContacted } = await start(0);
    expectUnavailable(await send('other.upstream.test'));
    expect(upstreamContacted()).toBe(false);
    expect((await agent.hits())['secret:NOPE']).toBe(1);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({
      decision: 'deny',
      reason: 'credential_unavailable',
      status: 503,
      service: 'unknown',
    });
  });

  it.each<[string, FixtureMode]>([
    ['failing (500)', { secrets: 'fail' }],
    ['unavailable (503)', { secrets: 'unavailable' }],
    ['answering 401', { secrets: 'unauthorized' }],
    ['answering garbage', { secrets: 'garbage' }],
    ['answering for another key', { secrets: 'mismatch' }],
    ['not ready', { ready: false }],
  ])('agent %s: 503 credential_unavailable, upstream never contacted', async (_n, mode) => {
    const { px, send, upstreamContacted } = await start(0);
    await agent.setMode(mode);
    expectUnavailable(await send());
    expect(upstreamContacted()).toBe(false);
    const [ev] = (await px.waitForEvents(1)) as RequestEvent[];
    expect(ev).toMatchObject({ decision: 'deny', reason: 'credential_unavailable', secret_ref: 'K' });
    expect(JSON.stringify(px.events)).not.toContain('agent-value');
  });
});

describe('secret_ttl_ms caching, seen through the agent hit counter', () => {
  it('a long TTL fetches once for three requests, and keeps the cached value after the agent changes it', async () => {
    const { send } = await start(60_000);
    for (let i = 0; i < 2; i++) expect((await send()).status).toBe(200);
    await agent.setData({ ...data, secrets: { K: 'agent-value-2' } });
    expect((await send()).status).toBe(200);
    expect((await agent.hits())['secret:K']).toBe(1);
    expect(upstream.received.map((r) => r.headers.authorization)).toEqual([
      'Bearer agent-value-1',
      'Bearer agent-value-1',
      'Bearer agent-value-1',
    ]);
  });

  it('TTL 0 fetches on every request and picks up a changed value at once', async () => {
    const { send } = await start(0);
    for (let i = 0; i < 2; i++) expect((await send()).status).toBe(200);
    await agent.setData({ ...data, secrets: { K: 'agent-value-2' } });
    expect((await send()).status).toBe(200);
    expect((await agent.hits())['secret:K']).toBe(3);
    expect(upstream.received.map((r) => r.headers.authorization)).toEqual([
      'Bearer agent-value-1',
      'Bearer agent-value-1',
      'Bearer agent-value-2',
    ]);
  });
});
