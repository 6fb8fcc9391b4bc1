// Child processes of the benchmark: the HTTPS upstream, the fixture agent and the proxy itself. Each is a real
// process (as in production), started with `process.execPath` directly so the pid we read /proc for is node's.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The repository root (absolute, trailing slash). */
export const REPO_ROOT = ROOT;

// Variables that would change what the proxy does (chaining, CA dir, agent URL) or how node runs.
const SCRUB = /^(https?_proxy|no_proxy|all_proxy|node_options|clef_proxy_.*)$/i;

/**
 * A copy of the runner's environment without proxy, NODE_OPTIONS or CLEF_PROXY_* variables, plus `extra`.
 * @param {Record<string, string>} extra
 */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!SCRUB.test(k) && v !== undefined) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Spawn `node <args>` and resolve with the first JSON line on `stream` that `match` accepts, and the
 * milliseconds from spawn() to that line. Rejects if the child exits first or `timeoutMs` passes.
 * The stream keeps being drained afterwards (a full pipe would stall the child); the last lines are kept for
 * error messages and `lines` counts them.
 * @param {string[]} args
 * @param {{ env?: Record<string, string>, stream?: 'stdout' | 'stderr', match: (o: any) => boolean,
 *   timeoutMs?: number, nodeArgs?: string[], discardStdout?: boolean }} opts
 */
export function spawnUntil(args, opts) {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...args], {
    cwd: ROOT,
    env: opts.env ?? cleanEnv(),
    // A child whose stdout is not read (an audit log on stdout) writes it to /dev/null, as fast as it can go.
    stdio: ['ignore', opts.discardStdout ? 'ignore' : 'pipe', 'pipe'],
  });
  const tail = [];
  const handle = { child, pid: child.pid, tail, lines: 0, line: undefined, readyMs: 0 };
  const other = opts.stream === 'stderr' ? child.stdout : child.stderr;
  other?.on('data', (chunk) => remember(tail, chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error('timed out')), opts.timeoutMs ?? 15_000);
    const fail = (err) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: ${err.message}\n${tail.join('\n')}`));
    };
    const onExit = (code, signal) => fail(new Error(`exited early (${code ?? signal})`));
    child.once('exit', onExit);
    createInterface({ input: opts.stream === 'stderr' ? child.stderr : child.stdout }).on('line', (line) => {
      handle.lines += 1;
      remember(tail, line);
      if (handle.line !== undefined) return;
      let parsed;
      try {
        parsed = JSON.parse(line);
      } catch {
        return;
      }
      if (!opts.match(parsed)) return;
      handle.readyMs = Number(process.hrtime.bigint() - started) / 1e6;
      handle.line = parsed;
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(handle);
    });
  });
}

function remember(tail, text) {
  tail.push(text.trimEnd());
  if (tail.length > 20) tail.shift();
}

/**
 * SIGTERM a child and wait for it to exit (SIGKILL after `graceMs`). Resolves with its exit code or signal.
 * @param {import('node:child_process').ChildProcess} child
 */
export function stopChild(child, graceMs = 10_000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal);
    });
    child.kill('SIGTERM');
  });
}

/**
 * Start the HTTPS upstream child; `expectAuth` is the Authorization value it reports as `x-bench-auth: yes`.
 * @param {string} expectAuth
 */
export async function startUpstreamChild(expectAuth) {
  const h = await spawnUntil(['bench/lib/upstream-server.mjs'], {
    env: cleanEnv({ BENCH_EXPECT_AUTH: expectAuth }),
    match: (o) => typeof o.port === 'number',
  });
  return { ...h, port: h.line.port };
}

/**
 * Start the fixture agent (fixtures/agent/agent.mjs) on a data file.
 * @param {string} dataPath
 * @param {string} token
 */
export async function startAgentChild(dataPath, token) {
  const h = await spawnUntil(['fixtures/agent/agent.mjs', '--data', dataPath], {
    env: cleanEnv({ CLEF_PROXY_AGENT_TOKEN: token }),
    match: (o) => typeof o.url === 'string',
  });
  return { ...h, url: h.line.url };
}

/**
 * Start `bin/clef-proxy serve --config <path>` (or another `entry` script) and wait for its `listening` line
 * (SPEC §1). `readyMs` is spawn() → that line, as the supervisor sees it.
 * @param {{ configPath: string, workloadToken: string, agentToken: string, nodeArgs?: string[],
 *   entry?: string, auditSink?: 'file' | 'stdout' }} o
 */
export async function startProxyChild(o) {
  const h = await spawnUntil([o.entry ?? 'bin/clef-proxy', 'serve', '--config', o.configPath], {
    env: cleanEnv({ CLEF_PROXY_TOKEN: o.workloadToken, CLEF_PROXY_AGENT_TOKEN: o.agentToken }),
    stream: 'stderr',
    match: (o) => o.msg === 'listening' && typeof o.port === 'number',
    // BENCH_PROXY_NODE_ARGS: extra node flags for the proxy (experiments, e.g. V8 heap sizes), space-separated.
    nodeArgs: [
      ...(process.env.BENCH_PROXY_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ...(o.nodeArgs ?? []),
    ],
    discardStdout: o.auditSink === 'stdout',
  });
  return { ...h, port: h.line.port };
}
