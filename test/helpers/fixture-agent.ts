/**
 * Start `fixtures/agent/agent.mjs` as a child process for a test, on 127.0.0.1 port 0, with its data in a temp dir.
 * The `/_fixture/*` calls are test-only endpoints of the fixture (see fixtures/agent/README.md).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Path of the fixture agent script. */
export const FIXTURE_AGENT_PATH = fileURLToPath(new URL('../../fixtures/agent/agent.mjs', import.meta.url));

/** The fixture's data file shape. */
export interface FixtureData {
  readonly services: readonly unknown[];
  readonly secrets?: Readonly<Record<string, string>>;
  readonly revision?: string;
  /** Served on `/v1/identities` when present; absent ⇒ that endpoint answers 404. */
  readonly identities?: ReadonlyArray<{ readonly name: string; readonly token_sha256: string }>;
}

/** The fixture's behaviour switches (`PUT /_fixture/mode`). */
export interface FixtureMode {
  readonly ready?: boolean;
  readonly services?: 'ok' | 'fail' | 'unavailable' | 'garbage' | 'invalid';
  readonly secrets?: 'ok' | 'fail' | 'unauthorized' | 'unavailable' | 'garbage' | 'mismatch' | 'slow';
  readonly identities?: 'ok' | 'fail' | 'invalid';
  readonly delay_ms?: number;
}

/** A running fixture agent. */
export interface FixtureAgent {
  readonly url: string;
  readonly token: string;
  readonly process: ChildProcess;
  readonly dataFile: string;
  /** Request counters (`ready`, `services`, `services_200`, `services_304`, `secret:<key>`, `api_connections`, …). */
  hits(): Promise<Record<string, number>>;
  resetHits(): Promise<void>;
  /** Replace the data in memory. */
  setData(data: FixtureData): Promise<void>;
  setMode(mode: FixtureMode): Promise<void>;
  /** Rewrite the data file and SIGHUP the agent; resolves when it reports the reload. */
  reload(data: FixtureData): Promise<void>;
  /** SIGTERM, wait for exit, remove the temp dir; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Options for {@link startFixtureAgent}. */
export interface StartFixtureAgentOptions {
  readonly data: FixtureData;
  /** Default `fixture-agent-token`. Passed through CLEF_PROXY_AGENT_TOKEN unless `tokenFlag` is set. */
  readonly token?: string;
  readonly tokenFlag?: boolean;
  /** Applied before the promise resolves, so a test never races the first poll. */
  readonly mode?: FixtureMode;
}

/** Spawn the fixture agent and wait for its `{"url":…}` line. */
export async function startFixtureAgent(options: StartFixtureAgentOptions): Promise<FixtureAgent> {
  const token = options.token ?? 'fixture-agent-token';
  const dir = await mkdtemp(join(tmpdir(), 'clef-fixture-agent-'));
  const dataFile = join(dir, 'data.json');
  await writeFile(dataFile, JSON.stringify(options.data));
  const argv = [FIXTURE_AGENT_PATH, '--data', dataFile, '--port', '0'];
  if (options.tokenFlag) argv.push('--token', token);
  const { CLEF_PROXY_AGENT_TOKEN: _drop, ...baseEnv } = process.env;
  const env = options.tokenFlag ? baseEnv : { ...baseEnv, CLEF_PROXY_AGENT_TOKEN: token };
  const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderrLines = createInterface({ input: child.stderr });
  let stderr = '';
  stderrLines.on('line', (line) => {
    stderr += `${line}\n`;
  });

  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const onExit = (code: number | null) => reject(new Error(`fixture agent exited ${code}: ${stderr}`));
    child.once('exit', onExit);
    lines.once('line', (line) => {
      child.off('exit', onExit);
      resolve((JSON.parse(line) as { url: string }).url);
    });
  }).catch(async (err) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });

  async function call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!res.ok) throw new Error(`fixture ${method} ${path} answered ${res.status}`);
    return res.json();
  }

  const agent: FixtureAgent = {
    url,
    token,
    process: child,
    dataFile,
    hits: async () => (await call('GET', '/_fixture/hits')) as Record<string, number>,
    resetHits: async () => void (await call('DELETE', '/_fixture/hits')),
    setData: async (data) => void (await call('PUT', '/_fixture/data', data)),
    setMode: async (mode) => void (await call('PUT', '/_fixture/mode', mode)),
    async reload(data) {
      await writeFile(dataFile, JSON.stringify(data));
      const reloaded = new Promise<void>((resolve, reject) => {
        const onLine = (line: string) => {
          if (!line.includes('"reloaded"')) return;
          stderrLines.off('line', onLine);
          if (line.includes('"reloaded":true')) resolve();
          else reject(new Error(`fixture reload failed: ${line}`));
        };
        stderrLines.on('line', onLine);
      });
      child.kill('SIGHUP');
      await reloaded;
    },
    async stop() {
      let code: number | null = child.exitCode;
      if (code === null && child.signalCode === null) {
        const exited = once(child, 'exit') as Promise<[number | null]>;
        child.kill('SIGTERM');
        [code] = await exited;
      }
      await rm(dir, { recursive: true, force: true });
      return code;
    },
  };
  if (options.mode) await agent.setMode(options.mode);
  return agent;
}
