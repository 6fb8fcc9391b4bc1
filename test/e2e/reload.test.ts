/**
 * SIGHUP re-reads the config file (issue 14): passthrough hosts, limits, log level and audit apply to new
 * connections while a loop of requests runs through the reload with zero failures and an open tunnel lives on; an
 * invalid file keeps the running config and logs every issue; a `listen` change is refused with a warning.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectThrough } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, stopAllServes } from '../helpers/serve.js';
import { type ServeStack, startServeStack, until } from '../helpers/serve-stack.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';

const stacks: ServeStack[] = [];
const servers: Server[] = [];

beforeAll(() => cliBuild(), 120_000);
afterAll(removeCliBuild);
afterEach(async () => {
  await stopAllServes();
  await Promise.all(stacks.splice(0).map((s) => s.close()));
  for (const s of servers.splice(0)) {
    (s as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
});

/** A TCP echo server: a passthrough target whose bytes come back. */
async function echoServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.pipe(s);
  });
  (server as Server & { closeAllConnections(): void }).closeAllConnections = () => {
    for (const s of sockets) s.destroy();
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function echo(socket: Socket, text: string): Promise<string> {
  let got = '';
  const onData = (c: Buffer) => {
    got += c.toString();
  };
  socket.on('data', onData);
  socket.write(text);
  while (got.length < text.length) await once(socket, 'data');
  socket.off('data', onData);
  return got;
}

/** SIGHUP and wait for the line `msg` written after it. */
async function hup(s: ServeStack, msg: string): Promise<Record<string, unknown>> {
  const from = s.serve.stderrLines.length;
  s.serve.kill('SIGHUP');
  return s.serve.waitForLog((r) => r.msg === msg, 20_000, from);
}

describe('SIGHUP config reload', () => {
  it('applies passthrough, limits, log_level and audit to new connections; no request fails', async () => {
    const kept = await echoServer();
    const added = await echoServer();
    const s = await startServeStack({ config: { passthrough_hosts: [kept] } });
    stacks.push(s);
    const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
    const target = `localhost:${s.up.port}`;

    const open = await connectThrough(s.serve.port, kept);
    expect(open.status).toBe(200);
    expect(await echo(open.socket, 'before')).toBe('before');
    const refused = await connectThrough(s.serve.port, added);
    expect(refused.status).toBe(403);
    refused.socket.destroy();

    // The loop: 4 clients, each one request after another, on a fresh connection every time.
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        try {
          const res = await httpsRequestThrough(s.serve.port, target, { path: '/loop' }, { ca });
          if (res.status === 200) ok++;
          else failures.push(`status ${res.status}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loop = Promise.all([client(), client(), client(), client()]);
    await until(() => ok >= 10);

    const auditFile = join(s.dir, 'audit.jsonl');
    await s.writeConfig({
      ...s.config,
      passthrough_hosts: [kept, added],
      limits: { max_connections: 500 },
      log_level: 'debug',
      audit: { sink: 'file', path: auditFile },
    });
    const reloaded = await hup(s, 'config reloaded');
    expect(reloaded.changed).toEqual(['passthrough_hosts', 'limits', 'log_level', 'audit']);
    const atReload = ok;
    await until(() => ok >= atReload + 10);
    stop = true;
    await loop;
    expect(failures).toEqual([]);

    const now = await connectThrough(s.serve.port, added);
    expect(now.status).toBe(200);
    expect(await echo(now.socket, 'new host')).toBe('new host');
    now.socket.destroy();
    // The tunnel opened before the reload is untouched.
    expect(await echo(open.socket, 'after')).toBe('after');
    open.socket.destroy();
    // Requests after the swap are audited in the new file; those before it went to stdout.
    await until(async () => (await readFile(auditFile, 'utf8').catch(() => '')).includes('"path":"/loop"'));
    expect(s.serve.stdoutLines.some((l) => l.includes('"path":"/loop"'))).toBe(true);
  }, 120_000);

  it('keeps the running config on an invalid file, logging every issue, and refuses a listen change', async () => {
    const s = await startServeStack();
    stacks.push(s);
    const ca = await readFile(join(s.caDir, 'ca.crt'), 'utf8');
    const target = `localhost:${s.up.port}`;

    await s.writeConfig({ ...s.config, limits: { max_connections: -1 }, bogus: true });
    const failed = await hup(s, 'config reload failed; keeping the running config');
    const issues = failed.issues as string[];
    expect(issues.join('\n')).toContain('limits.max_connections');
    expect(issues.join('\n')).toContain('bogus: unknown key');
    expect((await httpsRequestThrough(s.serve.port, target, { path: '/' }, { ca })).status).toBe(200);

    await s.writeConfig({ ...s.config, listen: '127.0.0.1:1' });
    const from = s.serve.stderrLines.length;
    const done = await hup(s, 'config reloaded');
    expect(done.changed).toEqual([]);
    const warned = s.serve.stderrLines.slice(from).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warned).toContainEqual(expect.objectContaining({ level: 40, key: 'listen' }));
    expect((await httpsRequestThrough(s.serve.port, target, { path: '/' }, { ca })).status).toBe(200);
  }, 120_000);
});
