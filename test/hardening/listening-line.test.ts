/**
 * SPEC §1: once the listener is up, exactly one `"msg":"listening"` line with `address` and `port` is logged, and
 * the supervisor reads the port from it (the configured port may be 0). Found while setting up the soak: with
 * `log_level` `warn` or `error`, serve never writes that line, so a supervisor waiting for it waits forever.
 *
 * Regression (hardening-1, fixed): src/cli/serve.ts logs it with `logger.info(…, 'listening')`, which pino drops below `info`.
 * The fix: log it through a child that keeps `info` whatever the configured level —
 * `logger.child({}, { level: 'info' }).info({ address, port }, 'listening')` (pino lets a child be more verbose than
 * its parent) — so it is written exactly once at every level but `silent`, which the schema does not offer anyway.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { cliBuild } from '../helpers/serve.js';

let agent: FixtureAgent | undefined;
let child: ChildProcess | undefined;
let dir: string | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  await agent?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  agent = child = dir = undefined;
});

/** A port that was free a moment ago: the test must know it without the `listening` line. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Resolves once a TCP connection to `port` succeeds; the test timeout bounds the wait. */
async function untilAccepting(port: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the listening line at every log level', () => {
  it.each(['warn', 'error'])('log_level %s: serve still logs "listening" once', async (level) => {
    agent = await startFixtureAgent({ data: { services: [] } });
    dir = await mkdtemp(join(tmpdir(), 'clef-hardening-listen-'));
    const port = await freePort();
    const config = join(dir, 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        listen: `127.0.0.1:${port}`,
        ca_dir: join(dir, 'ca'),
        agent: { url: agent.url },
        log_level: level,
      }),
    );
    const { bin } = await cliBuild();
    child = spawn(process.execPath, [bin, 'serve', '--config', config], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: dir,
        CLEF_PROXY_TOKEN: 'w-token',
        CLEF_PROXY_AGENT_TOKEN: agent.token,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const exited = once(child, 'exit');
    await untilAccepting(port);
    // The port accepts a moment before serve installs its signal handlers, and a SIGTERM sent in between (a long
    // moment on a loaded machine) would meet the default action; serve writes the line after installing them. A
    // line that never comes fails the test by its timeout.
    while (!stderr.includes('"msg":"listening"')) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
    const listening = stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.msg === 'listening');
    expect(listening).toHaveLength(1);
    expect(listening[0]).toMatchObject({ address: '127.0.0.1', port });
  });
});
