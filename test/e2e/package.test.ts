/**
 * The npm package as a user gets it: `npm pack`, install the tarball into an empty project, run the CLI from there
 * (docs/distribution.md). The repository is copied to a temp dir and built there, so this test never rewrites the
 * dist/ that other test files are spawning from.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, realpathSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BinaryCommand } from '../../src/binary-path.js';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { FIXTURE_CA_PEM, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const ROOT = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const WIN = process.platform === 'win32';
/** Not copied: installed or built things, and the 100 MB single executables `npm run build:sea` leaves in bin/. */
const SKIP = new Set(['node_modules', 'dist', '.git', '.scratch', '.demo', 'coverage']);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The caller's environment without anything that would steer the proxy or its upstream dials. */
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(clef_proxy_|https?_proxy$|no_proxy$)/i.test(k)),
  ),
  ...extra,
});

function run(command: string, args: string[], cwd: string, env = cleanEnv()): Promise<Run> {
  return new Promise((resolve) => {
    // npm and npx are .cmd scripts on Windows, which only a shell can start.
    execFile(command, args, { cwd, env, shell: WIN, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

let tmp: string;
let project: string;
let packedFiles: string[];
let tarball: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'clef-pack-'));
  const repo = join(tmp, 'repo');
  await cp(ROOT, repo, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src);
      return !SKIP.has(rel.split(sep)[0]!) && !/^bin[\\/]clef-proxy-/.test(rel);
    },
  });
  await symlink(join(ROOT, 'node_modules'), join(repo, 'node_modules'), 'junction');
  // The `build` script's two steps. tsc's exit code is ignored (files in progress elsewhere may not typecheck,
  // tsc emits anyway); the bundle step must succeed.
  await run(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
    repo,
  );
  const bundle = await run(process.execPath, ['scripts/build-sea.mjs', '--cli-bundle'], repo);
  expect(bundle.code, bundle.stderr).toBe(0);

  const packed = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], repo);
  expect(packed.code, packed.stderr).toBe(0);
  const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  packedFiles = info.files.map((f) => f.path).sort();
  tarball = join(tmp, info.filename.replace(/^@/, '').replace('/', '-'));
  await stat(tarball);

  project = join(tmp, 'project');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  const flags = ['install', '--no-audit', '--no-fund', tarball];
  // Offline first: every dependency is in the npm cache since this repository installed them.
  let installed = await run('npm', [...flags, '--offline'], project);
  if (installed.code !== 0) installed = await run('npm', flags, project);
  expect(installed.code, installed.stderr).toBe(0);
}, 240_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('holds dist/, bin/, README.md, LICENSE and package.json, and nothing else', () => {
    const outside = packedFiles.filter(
      (p) => !/^(dist\/|bin\/)/.test(p) && !['README.md', 'LICENSE', 'package.json'].includes(p),
    );
    expect(outside).toEqual([]);
    expect(packedFiles.filter((p) => p.startsWith('bin/'))).toEqual(['bin/clef-proxy']);
    for (const p of ['dist/index.js', 'dist/index.d.ts', 'dist/binary-path.js', 'dist/binary-path.d.ts']) {
      expect(packedFiles).toContain(p);
    }
    expect(packedFiles.filter((p) => p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
  });

  it('ships the single-file CLI bundle as dist/cli/main.js', async () => {
    const main = await readFile(join(project, 'node_modules/@clef-sh/proxy/dist/cli/main.js'), 'utf8');
    expect(main.startsWith("import { createRequire as __clefCreateRequire } from 'node:module';")).toBe(true);
    expect(main).not.toMatch(/^import .* from '\.\.?\//m);
    // V8 holds the source for the process's life: one byte per character only while all of it is Latin-1.
    expect(main.match(/[^\u0000-\u00ff]/u)?.[0]).toBeUndefined();
    // undici's Client and Pool come without its fetch and WebSocket (src/upstream/undici-classes.ts).
    expect(main).toMatch(/^\/\/ .*node_modules\/undici\/lib\/dispatcher\/pool\.js$/m);
    expect(main).not.toMatch(/^\/\/ .*node_modules\/undici\/lib\/web\/(fetch\/index\.js|websocket\/)/m);
  });
});

describe('installed from the tarball', () => {
  it('npx -- clef-proxy --version prints the package version', async () => {
    const r = await run('npx', ['--no', '--', 'clef-proxy', '--version'], project);
    expect(r).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
  }, 60_000);

  it('npx clef-proxy ca path prints CLEF_PROXY_CA_DIR', async () => {
    const caDir = join(tmp, 'ca-from-env');
    const r = await run(
      'npx',
      ['--no', '--', 'clef-proxy', 'ca', 'path'],
      project,
      cleanEnv({ CLEF_PROXY_CA_DIR: caDir }),
    );
    expect(r).toMatchObject({ code: 0, stdout: `${caDir}\n` });
  }, 60_000);

  describe('serve, started the way binaryPath() says', () => {
    let agent: FixtureAgent | undefined;
    let upstream: TestUpstream | undefined;
    afterAll(async () => {
      await agent?.stop();
      await upstream?.close();
    });

    it('logs listening, carries a passthrough request, exits 0 on SIGTERM', async () => {
      const installedPkg = join(project, 'node_modules/@clef-sh/proxy');
      const mod = (await import(pathToFileURL(join(installedPkg, 'dist/binary-path.js')).href)) as {
        binaryPath(): BinaryCommand;
      };
      const cmd = mod.binaryPath();
      // No platform package is installed from a local tarball: Node runs the package's own bin script.
      expect(cmd.command).toBe(process.execPath);
      expect(cmd.args.map((a) => realpathSync(a))).toEqual([
        realpathSync(join(installedPkg, 'bin/clef-proxy')),
      ]);

      upstream = await startUpstream({ handler: (_req, res) => res.end('package-smoke-ok') });
      agent = await startFixtureAgent({ data: { services: [], secrets: {} }, token: 'pack-agent-token' });
      const config = join(tmp, 'serve.json');
      const passthrough = [`127.0.0.1:${upstream.port}`];
      await writeFile(
        config,
        JSON.stringify({ listen: '127.0.0.1:0', agent: { url: agent.url }, passthrough_hosts: passthrough }),
      );
      const env = cleanEnv({
        CLEF_PROXY_TOKEN: 'pack-workload-token',
        CLEF_PROXY_AGENT_TOKEN: 'pack-agent-token',
        CLEF_PROXY_CA_DIR: join(tmp, 'serve-ca'),
      });
      const child = spawn(cmd.command, [...cmd.args, 'serve', '--config', config], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      try {
        const listening = await new Promise<{ port: number }>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`serve exited ${code} before listening`)));
          createInterface({ input: child.stderr! }).on('line', (line) => {
            if (line.includes('"msg":"listening"')) resolve(JSON.parse(line) as { port: number });
          });
        });
        const dispatcher = new ProxyAgent({
          uri: `http://u:pack-workload-token@127.0.0.1:${listening.port}`,
          requestTls: { ca: FIXTURE_CA_PEM },
        });
        try {
          const res = await request(`https://127.0.0.1:${upstream.port}/smoke`, { dispatcher });
          expect(res.statusCode).toBe(200);
          expect(await res.body.text()).toBe('package-smoke-ok');
        } finally {
          await dispatcher.close();
        }
        expect(upstream.received.map((r) => r.url)).toEqual(['/smoke']);
        child.kill('SIGTERM');
        const [code] = await exited;
        // Windows has no SIGTERM: kill() terminates the process outright, so there is no exit code to check.
        if (!WIN) expect(code).toBe(0);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }, 60_000);
  });
});
