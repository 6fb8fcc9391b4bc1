// Child processes and /proc readings for the soak: a private build of the CLI (the repository's dist/ may be
// rebuilt by anyone at any moment, so the soak never runs it), the fixture agent, the upstream, `serve`, the probe.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));

/** tsc into `<dir>/dist`, laid out like the installed package; resolves with the `bin/clef-proxy` path. */
export async function buildCli(dir) {
  const tsc = join(ROOT, 'node_modules/.bin/tsc');
  const output = await new Promise((resolve) => {
    const args = ['-p', 'tsconfig.build.json', '--outDir', join(dir, 'dist')];
    execFile(tsc, args, { cwd: ROOT }, (_err, stdout, stderr) => resolve(stdout + stderr));
  });
  await stat(join(dir, 'dist/cli/main.js')).catch(() => {
    throw new Error(`tsc produced no dist/cli/main.js:\n${output}`);
  });
  await mkdir(join(dir, 'bin'));
  await copyFile(join(ROOT, 'bin/clef-proxy'), join(dir, 'bin/clef-proxy'));
  await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return join(dir, 'bin/clef-proxy');
}

/** Spawn `node <argv>` and resolve with the child and its first stdout line parsed as JSON. */
async function spawnWithLine(argv, env) {
  const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr = (stderr + c).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${argv[0]} exited ${code}: ${stderr}`)));
    lines.once('line', (line) => resolve(JSON.parse(line)));
  });
  return { child, first, lines };
}

const baseEnv = () => ({ PATH: process.env.PATH ?? '' });

/** The soak's upstream; it closes a keep-alive connection idle for `idleMs`. */
export async function startUpstreamChild(secrets, idleMs) {
  const { child, first } = await spawnWithLine([join(HERE, 'upstream.mjs')], {
    ...baseEnv(),
    SOAK_SECRETS: JSON.stringify(secrets),
    SOAK_UPSTREAM_IDLE_MS: String(idleMs),
  });
  return { child, port: first.port, control: first.control };
}

export async function startAgentChild(dir, data, token) {
  const dataFile = join(dir, 'agent-data.json');
  await writeFile(dataFile, JSON.stringify(data));
  const argv = [join(ROOT, 'fixtures/agent/agent.mjs'), '--data', dataFile, '--port', '0'];
  const { child, first } = await spawnWithLine(argv, { ...baseEnv(), CLEF_PROXY_AGENT_TOKEN: token });
  return { child, url: first.url };
}

/** `clef-proxy serve`; resolves on the `listening` line. Keeps the last error/warn lines for the report. */
export async function startServe(bin, dir, config, env, nodeFlags = []) {
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify(config));
  const child = spawn(process.execPath, [...nodeFlags, bin, 'serve', '--config', configPath], {
    env: { ...baseEnv(), HOME: dir, XDG_DATA_HOME: join(dir, 'xdg'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const problems = [];
  // Everything serve says is kept next to the audit file (SOAK_KEEP=1 keeps the directory); stdout carries
  // nothing with a file audit sink, but V8's --trace-gc lines go there.
  child.stdout.pipe(createWriteStream(join(dir, 'serve.stdout')));
  child.stderr.pipe(createWriteStream(join(dir, 'serve.stderr')));
  const exit = once(child, 'exit').then(([code, signal]) => ({ code, signal }));
  const port = await new Promise((resolve, reject) => {
    exit.then((e) => reject(new Error(`serve exited ${e.code}: ${problems.join('\n')}`)));
    createInterface({ input: child.stderr }).on('line', (line) => {
      let rec;
      try {
        rec = JSON.parse(line);
      } catch {
        return; // not pino: e.g. V8's --trace-gc lines under SOAK_SERVE_NODE_OPTIONS
      }
      if (rec.msg === 'listening') resolve(rec.port);
      else if (rec.level >= 40) problems.push(line.slice(0, 300));
    });
  });
  return { child, port, exit, problems };
}

export function startProbe(env) {
  const child = spawn(process.execPath, [join(HERE, 'probe.mjs')], {
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const result = new Promise((resolve) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.once('exit', () => resolve(out.trim() ? JSON.parse(out.trim()) : { errors: 1, count: 0 }));
  });
  return { child, result };
}

/** VmRSS of a process in MiB (Linux). */
export async function rssMiB(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** Open file descriptors of a process (Linux). */
export async function fdCount(pid) {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Stop a child: SIGTERM, then wait for it to exit. */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}
