/**
 * A whole `clef-proxy serve` deployment for e2e tests of the fleet features (admin, metrics, reload, workers):
 * the fixture agent with one `echo` service on a test upstream, and the CLI with its config in a file the test
 * may rewrite (SIGHUP reload).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FixtureAgent, startFixtureAgent } from './fixture-agent.js';
import { WORKLOAD_TOKEN } from './proxy.js';
import { type ServeProcess, spawnServe } from './serve.js';
import {
  fixturePath,
  startUpstream,
  TEST_ALLOW_PRIVATE,
  type TestUpstream,
  type UpstreamHandler,
} from './upstream.js';

export const STACK_AGENT_TOKEN = 'e2e-fleet-agent-token';

/** A running stack; `close()` stops the agent and upstream (serves are stopped by `stopAllServes`). */
export interface ServeStack {
  readonly serve: ServeProcess;
  readonly agent: FixtureAgent;
  readonly up: TestUpstream;
  readonly dir: string;
  readonly caDir: string;
  readonly configPath: string;
  /** The config as written; `writeConfig` replaces the file (the proxy reads it on SIGHUP). */
  readonly config: Record<string, unknown>;
  writeConfig(config: unknown): Promise<void>;
  close(): Promise<void>;
}

/** Options for {@link startServeStack}. */
export interface ServeStackOptions {
  /** Merged over the base config (listen, agent, upstream_ca_file). */
  readonly config?: Record<string, unknown>;
  /** Merged over the `agent` section (the fixture's url, refresh 60 s). */
  readonly agent?: Record<string, unknown>;
  readonly handler?: UpstreamHandler;
}

/** Start agent, upstream and serve; resolves once serve logged `listening`. */
export async function startServeStack(opts: ServeStackOptions = {}): Promise<ServeStack> {
  const dir = await mkdtemp(join(tmpdir(), 'clef-proxy-e2e-fleet-'));
  const up = await startUpstream(opts.handler ? { handler: opts.handler } : {});
  const agent = await startFixtureAgent({
    token: STACK_AGENT_TOKEN,
    data: {
      services: [{ name: 'echo', hosts: [`localhost:${up.port}`], auth: { type: 'bearer', secret: 'K1' } }],
      secrets: { K1: 'fleet-secret-value' },
    },
  });
  const caDir = join(dir, 'ca');
  const configPath = join(dir, 'config.json');
  const config = {
    listen: '127.0.0.1:0',
    agent: { url: agent.url, services_refresh_ms: 60_000, ...opts.agent },
    upstream_ca_file: fixturePath('ca.crt'),
    // The upstream is on loopback, which the destination guard refuses unless allowed.
    egress: { allow_private: [...TEST_ALLOW_PRIVATE] },
    ...opts.config,
  };
  const writeConfig = (c: unknown) => writeFile(configPath, JSON.stringify(c));
  await writeConfig(config);
  const close = async () => {
    await agent.stop();
    await up.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const serve = await spawnServe({
      config: configPath,
      env: {
        CLEF_PROXY_AGENT_TOKEN: STACK_AGENT_TOKEN,
        CLEF_PROXY_TOKEN: WORKLOAD_TOKEN,
        CLEF_PROXY_CA_DIR: caDir,
      },
    });
    return { serve, agent, up, dir, caDir, configPath, config, writeConfig, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A plain GET on the admin listener. */
export function adminGet(
  port: number,
  path: string,
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Poll `fn` every 50 ms until it returns true; rejects after `timeoutMs` (a generous bound, not an assertion). */
export async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
