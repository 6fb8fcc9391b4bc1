/**
 * `npm run build:sea` for this platform (scripts/build-sea.mjs): the single executable is built into a temp dir,
 * smoke-tested by the script, then run here on its own, and found by binaryPath() once stamped into a platform
 * package. Where this Node cannot host a SEA the tests are skipped with the reason printed.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binaryPath, platformPackageName } from '../../src/binary-path.js';

const ROOT = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TARGET = `${process.platform}-${process.arch}`;
const EXE = process.platform === 'win32' ? '.exe' : '';
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:0';

/** Why this Node cannot build a SEA, or undefined when it can (the build script checks the same and exits 3). */
function unsupportedReason(): string | undefined {
  const [major = 0] = process.versions.node.split('.').map(Number);
  if (major < 20) return `Node ${process.version} predates the SEA build this project uses (needs 20+)`;
  if (!readFileSync(process.execPath).includes(FUSE))
    return `${process.execPath} has no SEA fuse (not an official build?)`;
  return undefined;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { ...opts, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Only what a binary needs to start: no NODE_OPTIONS, no proxies, no CLEF_PROXY_* from the caller. */
function minimalEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'SystemRoot', 'TEMP', 'TMP', 'USERPROFILE', 'LOCALAPPDATA'];
  return {
    ...Object.fromEntries(keep.flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : []))),
    ...extra,
  };
}

const reason = unsupportedReason();
if (reason !== undefined) {
  console.warn(`sea.test.ts skipped: ${reason}`);
  it.skip(`single executable (${reason})`, () => {});
} else {
  describe(`single executable for ${TARGET}`, () => {
    let tmp: string;
    let binary: string;
    let build: Run;

    beforeAll(async () => {
      tmp = await mkdtemp(join(tmpdir(), 'clef-sea-test-'));
      binary = join(tmp, `clef-proxy-${TARGET}${EXE}`);
      build = await run(process.execPath, [join(ROOT, 'scripts/build-sea.mjs'), '--out', binary], {
        cwd: ROOT,
      });
    }, 240_000);

    afterAll(async () => {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    it('builds, and the build smoke-tests --version, ca path and one request through serve', () => {
      expect(build.code, build.stderr).toBe(0);
      const lines = build.stdout.split('\n');
      expect(lines).toContain(`build-sea: wrote ${binary}`);
      expect(lines).toContain(`smoke: --version ${VERSION}`);
      expect(lines.some((l) => /^smoke: ca path .*clef-sea-smoke-.*ca$/.test(l))).toBe(true);
      expect(lines).toContain('smoke: serve passthrough HTTP/1.1 200 OK sea-smoke-ok');
      if (process.platform !== 'win32') expect(lines).toContain('smoke: serve SIGTERM exit 0');
      expect(lines).toContain('build-sea: smoke test passed');
    });

    it('runs alone in an empty directory: --version, ca path, and ca export minting the CA', async () => {
      const alone = join(tmp, 'alone');
      await mkdir(alone);
      const copy = join(alone, `clef-proxy${EXE}`);
      await copyFile(binary, copy);
      const caDir = join(alone, 'ca');
      const env = minimalEnv({ CLEF_PROXY_CA_DIR: caDir });
      expect(await run(copy, ['--version'], { cwd: alone, env })).toEqual({
        code: 0,
        stdout: `${VERSION}\n`,
        stderr: '',
      });
      expect(await run(copy, ['ca', 'path'], { cwd: alone, env })).toMatchObject({
        code: 0,
        stdout: `${caDir}\n`,
      });
      // Minting goes through @peculiar/x509, which needs reflect-metadata loaded first: the bundle must keep that order.
      const exported = await run(copy, ['ca', 'export'], { cwd: alone, env });
      expect(exported.code, exported.stderr).toBe(0);
      const cert = new X509Certificate(exported.stdout);
      expect(cert.subject).toMatch(/^CN=Clef Proxy CA \(.+\)$/);
      expect(cert.ca).toBe(true);
    });

    it.runIf(platformPackageName(process.platform, process.arch) !== undefined)(
      'stamped into its platform package, is what binaryPath() returns',
      async () => {
        const scope = join(tmp, 'consumer/node_modules/@clef-sh');
        await mkdir(scope, { recursive: true });
        await cp(join(ROOT, 'npm', `proxy-${TARGET}`), join(scope, `proxy-${TARGET}`), { recursive: true });
        const stamp = await run(process.execPath, [
          join(ROOT, 'scripts/stamp-platform.mjs'),
          `v${VERSION}`,
          TARGET,
          binary,
          '--npm-dir',
          scope,
        ]);
        expect(stamp.code, stamp.stderr).toBe(0);
        const resolve = createRequire(join(tmp, 'consumer/index.js')).resolve;
        const cmd = binaryPath({ resolve, version: VERSION });
        expect(cmd).toEqual({ command: join(scope, `proxy-${TARGET}`, `bin/clef-proxy${EXE}`), args: [] });
        expect(await run(cmd.command, ['--version'], { env: minimalEnv({}) })).toMatchObject({
          code: 0,
          stdout: `${VERSION}\n`,
        });
      },
    );
  });
}
