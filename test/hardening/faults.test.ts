/**
 * Faults while the proxy runs (SPEC §5, §8, §10), with the real fixture agent as a child process and the proxy's
 * pino log captured in-process: the agent going away, hanging, answering garbage or rejecting the token after a
 * good start. Every time the proxy fails closed (503 `credential_unavailable`, upstream never contacted), keeps
 * the last good services, says so on its operational log, and recovers when the agent does. Upstream resets and
 * stale kept-alive sockets are covered by test/integration/intercept/aborts.test.ts and stale-upstream.test.ts.
 */
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentSource, createAgentSource } from '../../src/agent/agent-source.js';
import type { RequestEvent } from '../../src/audit/events.js';
import { createLogger } from '../../src/log/logger.js';
import { type FixtureAgent, type FixtureData, startFixtureAgent } from '../helpers/fixture-agent.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough, type ThroughResponse } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

type LogLine = Record<string, unknown> & { level: number; msg: string };

let upstream: TestUpstream;
let agent: FixtureAgent;
let source: AgentSource | undefined;
let proxy: TestProxy | undefined;
let log: LogLine[];

beforeEach(async () => {
  upstream = await startUpstream();
  const data: FixtureData = {
    revision: 'r1',
    services: [
      { name: 'api', hosts: [`api.upstream.test:${upstream.port}`], auth: { type: 'bearer', secret: 'A' } },
      {
        name: 'other',
        hosts: [`other.upstream.test:${upstream.port}`],
        auth: { type: 'bearer', secret: 'B' },
      },
    ],
    secrets: { A: 'fault-secret-a', B: 'fault-secret-b' },
  };
  agent = await startFixtureAgent({ data });
  log = [];
});

afterEach(async () => {
  await proxy?.close();
  await source?.close();
  await agent.stop();
  await upstream.close();
  proxy = source = undefined;
});

async function start(opts: { secretTtlMs: number; requestTimeoutMs?: number }) {
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) log.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = createLogger('debug', stream);
  source = await createAgentSource({
    url: agent.url,
    token: agent.token,
    readyTimeoutMs: 5_000,
    refreshMs: 100,
    logger,
    ...opts,
  });
  proxy = await startTestProxy({ source, logger });
  const px = proxy;
  return {
    px,
    send: (host = 'api') =>
      httpsRequestThrough(
        px.port,
        `${host}.upstream.test:${upstream.port}`,
        { path: '/f' },
        { ca: px.proxy.caCertPem },
      ),
  };
}

/** Resolves with the first log line (past or future) for which `match` holds; the test timeout bounds the wait. */
async function logLine(match: (l: LogLine) => boolean): Promise<LogLine> {
  for (;;) {
    const hit = log.find(match);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The §6 refusal, and nothing of it reached the upstream. */
function expectFailedClosed(res: ThroughResponse, upstreamRequestsBefore: number): void {
  expect(res.status).toBe(503);
  expect(res.headers['x-clef-proxy-error']).toBe('credential_unavailable');
  expect(res.json()).toMatchObject({ error: 'credential_unavailable' });
  expect(upstream.received).toHaveLength(upstreamRequestsBefore);
}

function expectNoSecretsInLog(): void {
  const text = JSON.stringify(log);
  for (const s of ['fault-secret-a', 'fault-secret-b', agent.token]) expect(text).not.toContain(s);
}

const refreshWarning = (l: LogLine) => l.level === 40 && /keeping services revision r1/.test(l.msg);

describe('agent down mid-run', () => {
  it('a cached secret serves until its TTL ends, then 503; an uncached one fails at once; services are kept', async () => {
    // Long enough that "still inside the TTL" below holds on a loaded machine too.
    const TTL = 6_000;
    const { px, send } = await start({ secretTtlMs: TTL });
    const fetchedBefore = Date.now();
    expect((await send()).status).toBe(200);
    // The secret was fetched somewhere in between: it is surely expired TTL after this, not after fetchedBefore
    // (a CONNECT, a leaf and a handshake may take a while on a busy machine).
    const fetchedAfter = Date.now();
    await agent.stop();
    await logLine(refreshWarning);

    // Still inside the TTL: served from the cache, with the credential.
    expect(Date.now() - fetchedBefore).toBeLessThan(TTL);
    expect((await send()).status).toBe(200);
    expect(upstream.received.at(-1)?.headers.authorization).toBe('Bearer fault-secret-a');
    // Never fetched: nothing to serve it from.
    expectFailedClosed(await send('other'), 2);

    await new Promise((r) => setTimeout(r, Math.max(0, fetchedAfter + TTL + 100 - Date.now())));
    expectFailedClosed(await send(), 2);
    expect(source!.services().revision).toBe('r1');
    const events = (await px.waitForEvents(4)) as RequestEvent[];
    expect(events.map((e) => [e.service, e.decision, e.status])).toEqual([
      ['api', 'inject', 200],
      ['api', 'inject', 200],
      ['other', 'deny', 503],
      ['api', 'deny', 503],
    ]);
    expect(log.filter((l) => l.msg === 'secret unavailable')).toHaveLength(2);
    expectNoSecretsInLog();
  });
});

describe('agent misbehaving mid-run (no secret cache)', () => {
  it('slower than the agent request timeout: 503 without touching the upstream, then recovers', async () => {
    const { send } = await start({ secretTtlMs: 0, requestTimeoutMs: 300 });
    expect((await send()).status).toBe(200);
    await agent.setMode({ secrets: 'slow', delay_ms: 3_000 });
    expectFailedClosed(await send(), 1);
    const line = await logLine((l) => l.msg === 'secret unavailable');
    expect(line).toMatchObject({ level: 40, service: 'api', secret_ref: 'A' });
    expect(String(line.cause)).toContain('timed out after 300 ms');
    await agent.setMode({ secrets: 'ok' });
    expect((await send()).status).toBe(200);
    expect(upstream.received).toHaveLength(2);
  });

  it.each(['garbage', 'invalid'] as const)(
    'services and secrets answering %s: 503, the last good services stay in force, then recovers',
    async (mode) => {
      const { send } = await start({ secretTtlMs: 0 });
      expect((await send()).status).toBe(200);
      // Counted before the switch: a refresh may reach the agent between setMode and a count taken after it, and
      // be the one that logs the warning, so only "hits after the switch" is certain.
      const hitsBefore = (await agent.hits()).services ?? 0;
      await agent.setMode({ services: mode, secrets: 'garbage' });
      await logLine(refreshWarning);
      expect((await agent.hits()).services).toBeGreaterThan(hitsBefore);
      expectFailedClosed(await send(), 1);
      expect(source!.services().revision).toBe('r1');
      await agent.setMode({ services: 'ok', secrets: 'ok' });
      expect((await send()).status).toBe(200);
      expectNoSecretsInLog();
    },
  );

  it('token rejected (401 on secrets): 503 credential_unavailable and a warning on the operational log', async () => {
    const { px, send } = await start({ secretTtlMs: 0 });
    expect((await send()).status).toBe(200);
    await agent.setMode({ secrets: 'unauthorized' });
    expectFailedClosed(await send(), 1);
    const line = await logLine((l) => l.msg === 'secret unavailable');
    expect(line).toMatchObject({ level: 40, service: 'api', secret_ref: 'A' });
    expect(String(line.cause)).toContain('agent answered 401');
    expect((await agent.hits())['secret:A']).toBe(2);
    const events = (await px.waitForEvents(2)) as RequestEvent[];
    expect(events[1]).toMatchObject({ decision: 'deny', reason: 'credential_unavailable', status: 503 });
    expectNoSecretsInLog();
  });
});
