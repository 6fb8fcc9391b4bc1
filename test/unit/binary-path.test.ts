import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BinaryPathOptions,
  binaryFileName,
  binaryPath,
  PLATFORM_TARGETS,
  platformPackageName,
} from '../../src/binary-path.js';

const ROOT = join(import.meta.dirname, '../..');
const ROOT_PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  optionalDependencies?: Record<string, string>;
};
const BIN_SCRIPT = join(ROOT, 'bin/clef-proxy');
const MODULES = '/opt/app/node_modules';
/** Where the fake install puts a target's executable (path.join, so the separators match on Windows too). */
const exe = (target: string, file = 'bin/clef-proxy') => join(MODULES, `@clef-sh/proxy-${target}`, file);

/** A fake install: the platform package resolves to PKG_DIR with `version`, and its binary exists. */
function installed(
  overrides: Partial<BinaryPathOptions> & { platformVersion?: unknown } = {},
): BinaryPathOptions {
  const { platformVersion = '0.1.0', ...rest } = overrides;
  return {
    platform: 'linux',
    arch: 'x64',
    libc: 'glibc',
    version: '0.1.0',
    execPath: '/usr/bin/node',
    resolve: (specifier) => `${MODULES}/${specifier}`,
    readJson: () => ({ version: platformVersion }),
    exists: () => true,
    ...rest,
  };
}

const FALLBACK = { command: '/usr/bin/node', args: [BIN_SCRIPT] };

describe('binaryPath', () => {
  it.each([
    ['linux x64 glibc', {}, { command: exe('linux-x64'), args: [] }],
    ['linux arm64', { arch: 'arm64' }, { command: exe('linux-arm64'), args: [] }],
    [
      'darwin arm64 (libc ignored)',
      { platform: 'darwin', arch: 'arm64', libc: 'musl' as const },
      { command: exe('darwin-arm64'), args: [] },
    ],
    ['darwin x64', { platform: 'darwin' }, { command: exe('darwin-x64'), args: [] }],
    [
      'win32 x64 has .exe',
      { platform: 'win32' },
      { command: exe('win32-x64', 'bin/clef-proxy.exe'), args: [] },
    ],
    ['linux on musl', { libc: 'musl' as const }, FALLBACK],
    ['no package for the arch', { arch: 'ppc64' }, FALLBACK],
    ['no package for the platform', { platform: 'freebsd' }, FALLBACK],
    ['win32 arm64', { platform: 'win32', arch: 'arm64' }, FALLBACK],
    [
      'package not installed',
      {
        resolve: () => {
          throw Object.assign(new Error('not found'), { code: 'MODULE_NOT_FOUND' });
        },
      },
      FALLBACK,
    ],
    ['older platform package (another dependency’s copy)', { platformVersion: '0.0.4' }, FALLBACK],
    ['manifest without a version', { readJson: () => ({ name: '@clef-sh/proxy-linux-x64' }) }, FALLBACK],
    ['manifest with a non-string version', { platformVersion: 1 }, FALLBACK],
    [
      'unreadable manifest',
      {
        readJson: () => {
          throw new SyntaxError('Unexpected token');
        },
      },
      FALLBACK,
    ],
    ['binary missing from the package', { exists: () => false }, FALLBACK],
  ])('%s', (_name, overrides, expected) => {
    expect(binaryPath(installed(overrides))).toEqual(expected);
  });

  it('asks for <package>/package.json and checks the binary path inside it', () => {
    const asked: string[] = [];
    const checked: string[] = [];
    binaryPath(
      installed({
        resolve: (s) => {
          asked.push(s);
          return `${MODULES}/@clef-sh/proxy-linux-x64/package.json`;
        },
        exists: (p) => {
          checked.push(p);
          return true;
        },
      }),
    );
    expect(asked).toEqual(['@clef-sh/proxy-linux-x64/package.json']);
    expect(checked).toEqual([exe('linux-x64')]);
  });

  it('falls back to Node running this package’s bin/clef-proxy, which exists', () => {
    const { command, args } = binaryPath({ platform: 'linux', arch: 'ppc64' });
    expect(command).toBe(process.execPath);
    expect(args).toEqual([BIN_SCRIPT]);
    expect(existsSync(args[0]!)).toBe(true);
  });

  describe('with a real node_modules', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'clef-binary-path-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('finds the platform package through require.resolve and compares versions with package.json', async () => {
      const pkg = join(dir, 'node_modules/@clef-sh/proxy-linux-x64');
      await mkdir(join(pkg, 'bin'), { recursive: true });
      await writeFile(
        join(pkg, 'package.json'),
        JSON.stringify({ name: '@clef-sh/proxy-linux-x64', version: '9.9.9' }),
      );
      await writeFile(join(pkg, 'bin/clef-proxy'), '');
      const resolve = createRequire(join(dir, 'index.js')).resolve;
      const base = { platform: 'linux', arch: 'x64', libc: 'glibc' as const, resolve };
      expect(binaryPath({ ...base, version: '9.9.9' })).toEqual({
        command: join(pkg, 'bin/clef-proxy'),
        args: [],
      });
      // Without a version override it compares with this repository's package.json, which is not 9.9.9.
      expect(binaryPath(base).command).toBe(process.execPath);
    });
  });
});

describe('platform packages (npm/)', () => {
  it('has exactly one directory per platform target', () => {
    const dirs = readdirSync(join(ROOT, 'npm')).sort();
    expect(dirs).toEqual(PLATFORM_TARGETS.map((t) => `proxy-${t}`).sort());
  });

  it.each(PLATFORM_TARGETS.map((t) => [t]))('%s: manifest agrees with binaryPath()', (target) => {
    const [platform, arch] = target.split('-') as [string, string];
    const dir = join(ROOT, 'npm', `proxy-${target}`);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.name).toBe(platformPackageName(platform, arch));
    expect(manifest.version).toBe(ROOT_PKG.version);
    expect(manifest.os).toEqual([platform]);
    expect(manifest.cpu).toEqual([arch]);
    expect(manifest.libc).toEqual(platform === 'linux' ? ['glibc'] : undefined);
    expect(manifest.main).toBe(binaryFileName(platform));
    expect(manifest.files).toEqual(['bin/']);
    expect(manifest).not.toHaveProperty('bin');
    expect(manifest).not.toHaveProperty('exports');
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toContain(`\`${binaryFileName(platform)}\``);
  });

  it('root optionalDependencies, when listed, pin every platform package to the package version', () => {
    const optional = Object.entries(ROOT_PKG.optionalDependencies ?? {}).filter(([n]) =>
      n.startsWith('@clef-sh/'),
    );
    for (const [, version] of optional) expect(version).toBe(ROOT_PKG.version);
  });
});

describe('scripts/stamp-platform.mjs', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'clef-stamp-'));
    await cp(join(ROOT, 'npm'), join(dir, 'npm'), { recursive: true });
    await writeFile(join(dir, 'binary'), 'fake-executable-bytes');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function stamp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const argv = [join(ROOT, 'scripts/stamp-platform.mjs'), ...args, '--npm-dir', join(dir, 'npm')];
    return new Promise((resolve) => {
      execFile(process.execPath, argv, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
      );
    });
  }

  it.each([
    ['linux-x64', 'bin/clef-proxy'],
    ['win32-x64', 'bin/clef-proxy.exe'],
  ])('stamps %s: version from the tag, binary at %s (0755), LICENSE beside it', async (target, main) => {
    const r = await stamp('v1.2.3-rc.1', target, join(dir, 'binary'));
    expect(r.code).toBe(0);
    const pkg = join(dir, 'npm', `proxy-${target}`);
    const manifest = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.version).toBe('1.2.3-rc.1');
    expect(manifest.main).toBe(main);
    expect(await readFile(join(pkg, main), 'utf8')).toBe('fake-executable-bytes');
    if (process.platform !== 'win32') expect((await stat(join(pkg, main))).mode & 0o777).toBe(0o755);
    expect(await readFile(join(pkg, 'LICENSE'), 'utf8')).toBe(await readFile(join(ROOT, 'LICENSE'), 'utf8'));
    // The other platforms are untouched.
    const other = JSON.parse(await readFile(join(dir, 'npm/proxy-darwin-arm64/package.json'), 'utf8'));
    expect(other.version).toBe(ROOT_PKG.version);
  });

  it.each([
    [['0.1.0', 'linux-x64'], 'usage:'],
    [['one.two', 'linux-x64', 'BINARY'], 'not a semver version: one.two'],
    [['0.1.0', 'linux-ia32', 'BINARY'], 'unknown platform-arch linux-ia32'],
    [['0.1.0', 'linux-x64', 'MISSING'], 'no binary at'],
  ])('refuses %j with exit 1', async (args, message) => {
    const resolved = args.map((a) =>
      a === 'BINARY' ? join(dir, 'binary') : a === 'MISSING' ? join(dir, 'nope') : a,
    );
    const r = await stamp(...resolved);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`stamp-platform: ${message}`);
    expect(existsSync(join(dir, 'npm/proxy-linux-x64/bin'))).toBe(false);
  });
});
