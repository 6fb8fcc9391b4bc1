import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AgentClient, AgentError, createAgentClient } from '../../../src/agent/client.js';
import { type FixtureAgent, startFixtureAgent } from '../../helpers/fixture-agent.js';

const TOKEN = 'client-test-token-7f3a';
const SECRET_VALUE = 'sv-9c1d-very-secret';
const data = {
  revision: 'rev-1',
  services: [{ name: 'gh', hosts: ['api.upstream.test'], auth: { type: 'bearer', secret: 'GH' } }],
  secrets: { GH: SECRET_VALUE, 'a/b c?d': 'odd-key-value' },
};

let agent: FixtureAgent;
const clients: AgentClient[] = [];
function client(overrides: { token?: string; timeoutMs?: number; url?: string } = {}): AgentClient {
  const c = createAgentClient({ url: agent.url, token: TOKEN, ...overrides });
  clients.push(c);
  return c;
}

async function rejection(p: Promise<unknown>): Promise<AgentError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentError);
  const agentErr = err as AgentError;
  // SPEC §2, §6: neither the token nor a secret value may appear in an error message.
  expect(agentErr.message).not.toContain(TOKEN);
  expect(agentErr.message).not.toContain(SECRET_VALUE);
  return agentErr;
}

beforeAll(async () => {
  agent = await startFixtureAgent({ data, token: TOKEN });
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await agent.setMode({ ready: true, services: 'ok', secrets: 'ok', delay_ms: 1000 });
  await agent.resetHits();
});
afterAll(async () => {
  await agent.stop();
});

describe('createAgentClient against the fixture agent', () => {
  it('reports readiness without sending the token', async () => {
    expect(await client().ready()).toBe(true);
    await agent.setMode({ ready: false });
    expect(await client().ready()).toBe(false);
    expect((await agent.hits()).unauthorized).toBeUndefined();
  });

  it('fetches services with their ETag, then gets 304 for that ETag', async () => {
    const c = client();
    const first = await c.services();
    expect(first).toEqual({
      status: 'ok',
      etag: '"rev-1"',
      doc: { revision: 'rev-1', services: data.services },
    });
    const second = await c.services('"rev-1"');
    expect(second).toEqual({ status: 'not_modified' });
    const hits = await agent.hits();
    expect(hits.services_200).toBe(1);
    expect(hits.services_304).toBe(1);
  });

  it('fetches a secret, path-encoding the key', async () => {
    const c = client();
    expect(await c.secret('GH')).toBe(SECRET_VALUE);
    expect(await c.secret('a/b c?d')).toBe('odd-key-value');
    expect((await agent.hits())['secret:a/b c?d']).toBe(1);
  });

  it('reuses one kept-alive connection for sequential requests', async () => {
    const c = client();
    await c.ready();
    await c.services();
    await c.secret('GH');
    await c.secret('GH');
    expect((await agent.hits()).api_connections).toBe(1);
  });

  it.each([
    ['unknown key → not_found', {}, 'NOPE', 'not_found', 404],
    ['not ready → unavailable', { ready: false }, 'GH', 'unavailable', 503],
    ['500 → http_status', { secrets: 'fail' }, 'GH', 'http_status', 500],
    ['non-JSON body → malformed', { secrets: 'garbage' }, 'GH', 'malformed', 200],
    ['another key in the body → malformed', { secrets: 'mismatch' }, 'GH', 'malformed', undefined],
  ] as const)('secret: %s', async (_label, mode, key, kind, status) => {
    await agent.setMode(mode);
    const err = await rejection(client().secret(key));
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
  });

  it('a wrong token is unauthorized, and the message holds neither token', async () => {
    const wrong = 'wrong-token-5e2b';
    const c = client({ token: wrong });
    for (const p of [c.services(), c.secret('GH')]) {
      const err = await rejection(p);
      expect(err.kind).toBe('unauthorized');
      expect(err.status).toBe(401);
      expect(err.message).not.toContain(wrong);
    }
  });

  it.each([
    ['500', { services: 'fail' }, 'http_status'],
    ['503', { services: 'unavailable' }, 'unavailable'],
    ['non-JSON', { services: 'garbage' }, 'malformed'],
  ] as const)('services: %s → %s', async (_label, mode, kind) => {
    await agent.setMode(mode);
    expect((await rejection(client().services())).kind).toBe(kind);
  });

  it('times out a request the agent does not answer in time', async () => {
    await agent.setMode({ secrets: 'slow', delay_ms: 2000 });
    const err = await rejection(client({ timeoutMs: 100 }).secret('GH'));
    expect(err.kind).toBe('unreachable');
    expect(err.message).toMatch(/timed out/);
  });

  it('rejects calls after close()', async () => {
    const c = client();
    c.close();
    expect((await rejection(c.secret('GH'))).kind).toBe('unreachable');
  });
});

describe('createAgentClient without an agent', () => {
  let closed: Server;
  let port = 0;
  beforeAll(async () => {
    // Bind then close, so the port is (very likely) refusing connections.
    closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    port = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
  });

  it('reports unreachable for a refused connection', async () => {
    const c = createAgentClient({ url: `http://127.0.0.1:${port}`, token: TOKEN });
    clients.push(c);
    const err = await rejection(c.ready());
    expect(err.kind).toBe('unreachable');
    expect(err.message).toContain('ECONNREFUSED');
  });

  it.each([
    ['https://127.0.0.1:1', TypeError],
    ['http://example.com:1', TypeError],
    ['http://10.0.0.1:1', TypeError],
  ])('refuses the url %s', (url, type) => {
    expect(() => createAgentClient({ url, token: TOKEN })).toThrow(type);
  });

  it.each(['', 'has space', 'new\nline'])('refuses the token %j without echoing it', (token) => {
    let thrown: unknown;
    try {
      createAgentClient({ url: 'http://127.0.0.1:1', token });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(AgentError);
    expect((thrown as AgentError).kind).toBe('unauthorized');
    if (token !== '') expect((thrown as AgentError).message).not.toContain(token);
  });

  it('accepts [::1] and localhost', () => {
    expect(() => createAgentClient({ url: 'http://[::1]:1', token: TOKEN }).close()).not.toThrow();
    expect(() => createAgentClient({ url: 'http://localhost:1', token: TOKEN }).close()).not.toThrow();
  });

  it('retries once on a fresh socket when a kept-alive socket was closed under it', async () => {
    // Every socket answers its first request and silently drops on the second, as an agent restarting or
    // closing idle connections would; each call must still succeed on a fresh connection.
    const served = new WeakMap<object, number>();
    let sockets = 0;
    const server = createHttpServer((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (n === 1) sockets++;
      if (n > 1) return req.socket.destroy();
      res.writeHead(200, { 'content-type': 'application/json', 'keep-alive': 'timeout=60' });
      res.end(JSON.stringify({ key: 'K', value: 'v' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const c = createAgentClient({
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        token: TOKEN,
      });
      clients.push(c);
      expect(await c.secret('K')).toBe('v');
      expect(await c.secret('K')).toBe('v');
      expect(await c.secret('K')).toBe('v');
      expect(sockets).toBe(3);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('idle sockets to the agent', () => {
  it('are closed by the client after keepAliveIdleMs, even when the agent never closes them', async () => {
    const closed: Promise<void>[] = [];
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ key: 'K', value: 'v' }));
    });
    // The agent side keeps idle connections for ever; only the client can end them.
    server.keepAliveTimeout = 0;
    server.on('connection', (socket) => {
      closed.push(new Promise((r) => socket.once('close', () => r())));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const c = createAgentClient({
        url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        token: TOKEN,
        keepAliveIdleMs: 200,
      });
      clients.push(c);
      expect(await c.secret('K')).toBe('v');
      expect(await c.secret('K')).toBe('v');
      // One kept-alive connection, reused; it closes once idle (the test timeout bounds the wait).
      expect(closed).toHaveLength(1);
      await closed[0];
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
