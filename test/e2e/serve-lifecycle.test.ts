/**
 * `clef-proxy serve` lifecycle (SPEC §4, §5, §8): the SIGTERM drain and a second signal, SIGHUP picking up a
 * regenerated CA and new services, and the last good services set kept while the agent fails.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEvent, TunnelEvent } from '../../src/audit/events.js';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { connectThrough, connectTo, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import {
  cliBuild,
  removeCliBuild,
  runCli,
  type ServeProcess,
  spawnServe,
  stopAllServes,
} from '../helpers/serve.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { fixturePath, startUpstream, type TestUpstream, type UpstreamHandler } from '../helpers/upstream.js';

const AGENT_TOKEN = 'e2e-lifecycle-agent-token';

interface Stack {
  readonly serve: ServeProcess;
  readonly agent: FixtureAgent;
  readonly up: TestUpstream;
  readonly echoPort: number;
  readonly caDir: string;
}

const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(() => cliBuild(), 120_000);
afterAll(removeCliBuild);
afterEach(async () => {
  await stopAllServes();
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A TCP echo server (a passthrough target whose bytes the test can see come back). */
async function startEcho(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return (server.address() as { port: number }).port;
}

/** Fixture agent (service `echo` on `localhost:<upstream>`), upstream, echo server and a running serve. */
async function startStack(
  opts: { config?: Record<string, unknown>; agent?: Record<string, unknown>; handler?: UpstreamHandler } = {},
): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'clef-proxy-e2e-life-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const up = await startUpstream(opts.handler ? { handler: opts.handler } : {});
  cleanups.push(() => up.close());
  const echoPort = await startEcho();
  const agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [{ name: 'echo', hosts: [`localhost:${up.port}`], auth: { type: 'bearer', secret: 'K1' } }],
      secrets: { K1: 'first-secret', K2: 'second-secret' },
    },
  });
  cleanups.push(() => agent.stop());
  const caDir = join(dir, 'ca');
  const serve = await spawnServe({
    config: {
      listen: '127.0.0.1:0',
      agent: { url: agent.url, services_refresh_ms: 60_000, ...opts.agent },
      passthrough_hosts: [`127.0.0.1:${echoPort}`],
      upstream_ca_file: fixturePath('ca.crt'),
      ...opts.config,
    },
    env: { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN, CLEF_PROXY_CA_DIR: caDir },
  });
  return { serve, agent, up, echoPort, caDir };
}

/** Write `text` into an open tunnel to the echo server and resolve with what comes back. */
async function echoThrough(socket: Socket, text: string): Promise<string> {
  const got: Buffer[] = [];
  let size = 0;
  const onData = (c: Buffer) => {
    got.push(c);
    size += c.length;
  };
  socket.on('data', onData);
  socket.write(text);
  while (size < text.length) await once(socket, 'data');
  socket.off('data', onData);
  return Buffer.concat(got).toString();
}

const draining = (r: Record<string, unknown>) => r.msg === 'draining';

describe('SIGTERM drain (SPEC §8)', () => {
  it('stops accepting at once, lets an open tunnel finish, audits it, then exits 0', async () => {
    const { serve, echoPort } = await startStack();
    const tunnel = await connectThrough(serve.port, `127.0.0.1:${echoPort}`);
    tunnel.socket.on('error', () => {});
    expect(tunnel.status).toBe(200);
    const client = `127.0.0.1:${tunnel.socket.localPort}`;
    expect(await echoThrough(tunnel.socket, 'before')).toBe('before');

    serve.kill('SIGTERM');
    await serve.waitForLog(draining);
    await expect(connectTo(serve.port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await echoThrough(tunnel.socket, 'during the drain')).toBe('during the drain');
    expect(serve.child.exitCode).toBeNull();

    tunnel.socket.end();
    expect(await serve.exit).toEqual({ code: 0, signal: null });
    const events = serve.stdoutLines.map((l) => JSON.parse(l) as TunnelEvent);
    expect(events).toEqual([expect.objectContaining({ event: 'tunnel', client, port: echoPort })]);
    expect(events[0]).toMatchObject({ bytes_in: 22, bytes_out: 22 });
  });

  it('lets an in-flight request get its response before exiting', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => {
      release = r;
    });
    let arrived: () => void = () => {};
    const arrival = new Promise<void>((r) => {
      arrived = r;
    });
    const { serve, up, caDir } = await startStack({
      handler: (req, res) => {
        req.resume();
        arrived();
        void released.then(() => res.end('slow-done'));
      },
    });
    const caPem = await readFile(join(caDir, 'ca.crt'), 'utf8');
    const pending = httpsRequestThrough(serve.port, `localhost:${up.port}`, { path: '/slow' }, { ca: caPem });
    await arrival;
    serve.kill('SIGTERM');
    await serve.waitForLog(draining);
    release();
    const res = await pending;
    expect({ status: res.status, body: res.body.toString() }).toEqual({ status: 200, body: 'slow-done' });
    expect(await serve.exit).toEqual({ code: 0, signal: null });
    const events = serve.stdoutLines.map((l) => JSON.parse(l) as RequestEvent);
    expect(events).toEqual([
      expect.objectContaining({ event: 'request', decision: 'inject', path: '/slow', status: 200 }),
    ]);
  });

  it('a second SIGTERM during a long drain ends it at once, still exit 0, the tunnel audited', async () => {
    const { serve, echoPort } = await startStack({ config: { drain_timeout_ms: 600_000 } });
    const tunnel = await connectThrough(serve.port, `127.0.0.1:${echoPort}`);
    // The proxy destroys this tunnel when the drain is cut short; a reset must not fail the test process.
    tunnel.socket.on('error', () => {});
    expect(await echoThrough(tunnel.socket, 'x')).toBe('x');
    const closed = once(tunnel.socket, 'close');
    serve.kill('SIGTERM');
    await serve.waitForLog(draining);
    serve.kill('SIGTERM');
    // The test's own timeout (20 s) is far below the 600 s drain: exiting at all proves the drain was cut.
    expect(await serve.exit).toEqual({ code: 0, signal: null });
    await closed;
    expect(serve.stdoutLines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ event: 'tunnel', port: echoPort, bytes_in: 1, bytes_out: 1 }),
    ]);
  });
});

describe('SIGHUP (SPEC §4, §5)', () => {
  it('picks up a CA regenerated on disk: new leaves verify against the new CA only', async () => {
    const { serve, up, caDir } = await startStack();
    const target = `localhost:${up.port}`;
    const oldCa = await readFile(join(caDir, 'ca.crt'), 'utf8');
    expect((await httpsRequestThrough(serve.port, target, { path: '/a' }, { ca: oldCa })).status).toBe(200);

    const regen = await runCli(['ca', 'regenerate', '--confirm'], { env: { CLEF_PROXY_CA_DIR: caDir } });
    expect(regen.code).toBe(0);
    const newCa = await readFile(join(caDir, 'ca.crt'), 'utf8');
    expect(newCa).not.toBe(oldCa);

    serve.kill('SIGHUP');
    await serve.waitForLog((r) => r.msg === 'CA reloaded');
    const res = await httpsRequestThrough(serve.port, target, { path: '/b' }, { ca: newCa });
    expect(res.status).toBe(200);
    expect(up.received.at(-1)!.headers.authorization).toBe('Bearer first-secret');
    await expect(
      httpsRequestThrough(serve.port, target, { path: '/c' }, { ca: oldCa }),
    ).rejects.toMatchObject({
      code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    });
    expect(up.received.map((r) => r.url)).toEqual(['/a', '/b']);
    expect(serve.child.exitCode).toBeNull();
  });

  it('keeps the current CA when the one on disk is broken, and goes on serving', async () => {
    const { serve, up, caDir } = await startStack();
    const ca = await readFile(join(caDir, 'ca.crt'), 'utf8');
    await writeFile(join(caDir, 'ca.crt'), 'not a certificate\n');
    serve.kill('SIGHUP');
    expect(await serve.waitForLog((r) => r.msg === 'CA reload failed; keeping the current CA')).toMatchObject(
      {
        level: 50,
      },
    );
    const res = await httpsRequestThrough(serve.port, `localhost:${up.port}`, { path: '/kept' }, { ca });
    expect(res.status).toBe(200);
    expect(serve.child.exitCode).toBeNull();
  });

  it('refreshes services at once: a host added at the agent is intercepted after SIGHUP', async () => {
    const { serve, up, agent, caDir } = await startStack();
    const ca = await readFile(join(caDir, 'ca.crt'), 'utf8');
    const added = `127.0.0.1:${up.port}`;
    const before = await connectThrough(serve.port, added);
    expect(before.status).toBe(403);
    before.socket.destroy();

    await agent.setData({
      services: [
        { name: 'echo', hosts: [`localhost:${up.port}`], auth: { type: 'bearer', secret: 'K1' } },
        {
          name: 'added',
          hosts: [added],
          auth: { type: 'api_key_header', header: 'X-Api-Key', secret: 'K2' },
        },
      ],
      secrets: { K1: 'first-secret', K2: 'second-secret' },
    });
    serve.kill('SIGHUP');
    await serve.waitForLog((r) => r.msg === 'services updated' && r.services === 2);
    const res = await httpsRequestThrough(serve.port, added, { path: '/new' }, { ca });
    expect(res.status).toBe(200);
    expect(up.received.at(-1)!.headers['x-api-key']).toBe('second-secret');
    expect(await serve.waitForAudit((e) => e.event === 'request' && e.path === '/new')).toMatchObject({
      decision: 'inject',
      service: 'added',
      host: '127.0.0.1',
    });
  });
});

describe('services refresh while the agent fails (SPEC §5)', () => {
  it('keeps the last good set: the known service still gets its credential', async () => {
    const { serve, up, agent, caDir } = await startStack({ agent: { services_refresh_ms: 150 } });
    const ca = await readFile(join(caDir, 'ca.crt'), 'utf8');
    const target = `localhost:${up.port}`;
    await agent.setMode({ services: 'fail' });
    // Two failed polls in a row: the loop keeps running and keeps warning, the set stays in force.
    const failed = (r: Record<string, unknown>) =>
      r.level === 40 && String(r.msg).includes('services refresh failed');
    await serve.waitForLog(failed);
    await serve.waitForLog(failed, 10_000, serve.stderrLines.length);
    const res = await httpsRequestThrough(serve.port, target, { path: '/still' }, { ca });
    expect(res.status).toBe(200);
    expect(up.received.at(-1)!.headers.authorization).toBe('Bearer first-secret');
  });
});
