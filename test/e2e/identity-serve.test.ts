/**
 * Per-workload identity through `clef-proxy serve` (issue 12): the daemon asks the fixture agent for
 * `/v1/identities`, admits each identity with its own token only, applies a service's `identities` list, and
 * writes the identity into the audit log on stdout.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/audit/events.js';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { basicAuth, connectThrough, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { type ServeProcess, spawnServe, stopAllServes } from '../helpers/serve.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { fixturePath, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const AGENT_TOKEN = 'identity-e2e-agent-token';
const CI_TOKEN = 'ci-bot-e2e-token-77aa';
const hex = (t: string) => createHash('sha256').update(t).digest('hex');

let dir: string;
let agent: FixtureAgent;
let up: TestUpstream;
let serve: ServeProcess;
let ca: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clef-identity-e2e-'));
  up = await startUpstream();
  agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [
        {
          name: 'ci',
          hosts: [`localhost:${up.port}`],
          path_prefix: '/ci',
          auth: { type: 'bearer', secret: 'CI' },
          identities: ['ci-*'],
        },
      ],
      secrets: { CI: 'ci-secret' },
      identities: [
        { name: 'ci-bot', token_sha256: hex(CI_TOKEN) },
        { name: 'dev', token_sha256: hex('dev-token') },
      ],
    },
  });
  serve = await spawnServe({
    config: {
      listen: '127.0.0.1:0',
      agent: { url: agent.url, ready_timeout_ms: 5000 },
      upstream_ca_file: fixturePath('ca.crt'),
      audit: { sink: 'stdout' },
    },
    env: {
      CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN,
      CLEF_PROXY_TOKEN: WORKLOAD_TOKEN,
      CLEF_PROXY_CA_DIR: join(dir, 'ca'),
    },
  });
  ca = await readFile(join(dir, 'ca', 'ca.crt'), 'utf8');
}, 120_000);

afterAll(async () => {
  await stopAllServes();
  await agent?.stop();
  await up?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('serve with agent identities', () => {
  it('ci-bot with its token is injected; dev is refused by the service list; the shared token is 407', async () => {
    const target = `localhost:${up.port}`;
    const ok = await httpsRequestThrough(
      serve.port,
      target,
      { path: '/ci/a' },
      { ca, auth: basicAuth(CI_TOKEN, 'ci-bot') },
    );
    expect(ok.status).toBe(200);
    expect(up.received.at(-1)?.headers.authorization).toBe('Bearer ci-secret');
    const dev = await httpsRequestThrough(
      serve.port,
      target,
      { path: '/ci/b' },
      { ca, auth: basicAuth('dev-token', 'dev') },
    );
    expect(dev.status).toBe(403);
    expect(dev.headers['x-clef-proxy-error']).toBe('identity_not_allowed');
    const shared = await connectThrough(serve.port, target, basicAuth(WORKLOAD_TOKEN, 'ci-bot'));
    expect(shared.status).toBe(407);
    shared.socket.destroy();

    const a = (await serve.waitForAudit((e) => e.event === 'request' && e.path === '/ci/a')) as RequestEvent;
    expect([a.identity, a.decision]).toEqual(['ci-bot', 'inject']);
    const b = (await serve.waitForAudit((e) => e.event === 'request' && e.path === '/ci/b')) as RequestEvent;
    expect([b.identity, b.decision, b.reason]).toEqual(['dev', 'deny', 'identity_not_allowed']);
    const d = await serve.waitForAudit((e) => e.event === 'deny' && e.reason === 'proxy_auth_required');
    expect(d.identity).toBeNull();
    expect(serve.stderrLines.some((l) => l.includes('"msg":"identities loaded"'))).toBe(true);
  });
});
