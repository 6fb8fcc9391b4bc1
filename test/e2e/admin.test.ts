/**
 * The admin listener of `clef-proxy serve` (issue 14): `admin_port` on the listening line, `/healthz` 200 while
 * serving and 503 while draining, `/readyz` 503 with a JSON reason once the agent stops answering, and the exit
 * codes for a non-loopback admin address (2) and a taken admin port (6).
 */
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectThrough, WORKLOAD_TOKEN } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, runCli, stopAllServes } from '../helpers/serve.js';
import {
  adminGet,
  type ServeStack,
  type ServeStackOptions,
  STACK_AGENT_TOKEN,
  startServeStack,
  until,
} from '../helpers/serve-stack.js';

const stacks: ServeStack[] = [];
const servers: Server[] = [];

beforeAll(() => cliBuild(), 120_000);
afterAll(removeCliBuild);
afterEach(async () => {
  await stopAllServes();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function stack(opts: ServeStackOptions = {}): Promise<ServeStack> {
  const s = await startServeStack({ ...opts, config: { admin: { listen: '127.0.0.1:0' }, ...opts.config } });
  stacks.push(s);
  return s;
}

const adminPort = (s: ServeStack) => s.serve.listening.admin_port as number;

describe('admin endpoint', () => {
  it('adds admin_port to the listening line and answers /healthz and /readyz; 404 elsewhere', async () => {
    const s = await stack();
    const port = adminPort(s);
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(s.serve.port);
    expect(await adminGet(port, '/healthz')).toMatchObject({ status: 200, body: '{"status":"serving"}\n' });
    expect(await adminGet(port, '/readyz')).toMatchObject({ status: 200, body: '{"status":"ready"}\n' });
    expect((await adminGet(port, '/nope')).status).toBe(404);
  });

  it('has no admin_port without the `admin` key', async () => {
    const s = await startServeStack();
    stacks.push(s);
    expect(s.serve.listening).not.toHaveProperty('admin_port');
  });

  it('answers 503 on /healthz and /readyz while draining, then exits 0', async () => {
    // A blind tunnel to a server that just holds the connection keeps the drain busy.
    const hold = createServer((c) => c.on('error', () => {}));
    await new Promise<void>((r) => hold.listen(0, '127.0.0.1', r));
    servers.push(hold);
    const target = `127.0.0.1:${(hold.address() as { port: number }).port}`;
    const s = await stack({ config: { passthrough_hosts: [target] } });
    const port = adminPort(s);
    const tunnel = await connectThrough(s.serve.port, target);
    tunnel.socket.on('error', () => {});
    expect(tunnel.status).toBe(200);
    s.serve.kill('SIGTERM');
    await s.serve.waitForLog((r) => r.msg === 'draining');
    expect(await adminGet(port, '/healthz')).toMatchObject({ status: 503, body: '{"status":"draining"}\n' });
    const ready = await adminGet(port, '/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'not_ready', reason: 'draining' });
    tunnel.socket.destroy();
    expect(await s.serve.exit).toEqual({ code: 0, signal: null });
  });

  it('reports agent_stale on /readyz once the agent stops answering, and ready again when it is back', async () => {
    const s = await stack({ agent: { services_refresh_ms: 100 } });
    const port = adminPort(s);
    // Every agent endpoint the proxy polls must fail: any answer counts as contact.
    await s.agent.setMode({ services: 'fail', identities: 'fail' });
    let last = { status: 0, type: '', body: '' };
    await until(async () => {
      last = await adminGet(port, '/readyz');
      return last.status === 503;
    });
    expect(JSON.parse(last.body)).toMatchObject({ status: 'not_ready', reason: 'agent_stale' });
    expect(last.type).toBe('application/json');
    expect((await adminGet(port, '/healthz')).status).toBe(200);
    await s.agent.setMode({ services: 'ok', identities: 'ok' });
    await until(async () => (await adminGet(port, '/readyz')).status === 200);
  }, 60_000);
});

describe('admin startup failures', () => {
  it('exits 2 for a non-loopback admin.listen, naming the key', async () => {
    const s = await startServeStack();
    stacks.push(s);
    const path = join(s.dir, 'bad.json');
    await writeFile(path, JSON.stringify({ ...s.config, admin: { listen: '0.0.0.0:0' } }));
    const run = await runCli(['serve', '--config', path], { env: envOf() });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('admin.listen');
    expect(run.stderr).toContain('loopback');
  }, 60_000);

  it('exits 6 when the admin port is taken', async () => {
    const s = await startServeStack();
    stacks.push(s);
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    const taken = (server.address() as { port: number }).port;
    const path = join(s.dir, 'taken.json');
    await writeFile(path, JSON.stringify({ ...s.config, admin: { listen: `127.0.0.1:${taken}` } }));
    const run = await runCli(['serve', '--config', path], { env: envOf(s.caDir) });
    expect(run.code).toBe(6);
    expect(run.stderr).toContain(`clef-proxy: admin listen failed: 127.0.0.1:${taken}: EADDRINUSE`);
  }, 60_000);
});

function envOf(caDir?: string): Record<string, string> {
  return {
    CLEF_PROXY_AGENT_TOKEN: STACK_AGENT_TOKEN,
    CLEF_PROXY_TOKEN: WORKLOAD_TOKEN,
    ...(caDir ? { CLEF_PROXY_CA_DIR: caDir } : {}),
  };
}
