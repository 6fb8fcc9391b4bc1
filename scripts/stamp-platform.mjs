#!/usr/bin/env node
/**
 * Make a platform package ready to publish:
 *
 *   node scripts/stamp-platform.mjs <version> <platform-arch> <binary> [--npm-dir <dir>]
 *
 * writes <version> (a leading `v` from the tag is dropped) into npm/proxy-<platform-arch>/package.json, copies
 * <binary> to the executable path its `main` names (mode 0755), and copies the repository's LICENSE beside it.
 * When the root package.json names a `repository`, that one is used: `npm publish --provenance` refuses a package
 * whose repository differs from the one the workflow ran in. `--npm-dir` points at another npm/ (tests).
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGETS = ['darwin-arm64', 'darwin-x64', 'linux-arm64', 'linux-x64', 'win32-x64'];
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const USAGE = 'usage: stamp-platform.mjs <version> <platform-arch> <binary> [--npm-dir <dir>]';

function fail(message) {
  console.error(`stamp-platform: ${message}`);
  process.exitCode = 1;
}

function parseArgs(argv) {
  const positional = [];
  let npmDir = join(ROOT, 'npm');
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--npm-dir') npmDir = resolve(argv[++i] ?? '');
    else positional.push(argv[i]);
  }
  if (positional.length !== 3) return { error: USAGE };
  const [rawVersion, target, binary] = positional;
  const version = rawVersion.replace(/^v/, '');
  if (!SEMVER.test(version)) return { error: `not a semver version: ${rawVersion}` };
  if (!TARGETS.includes(target))
    return { error: `unknown platform-arch ${target}; one of ${TARGETS.join(', ')}` };
  if (!existsSync(binary) || !statSync(binary).isFile()) return { error: `no binary at ${binary}` };
  return { version, target, binary: resolve(binary), npmDir };
}

function stamp({ version, target, binary, npmDir }) {
  const packageDir = join(npmDir, `proxy-${target}`);
  const manifestPath = join(packageDir, 'package.json');
  if (!existsSync(manifestPath)) return fail(`no manifest at ${manifestPath}`);
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  if (typeof manifest.main !== 'string') return fail(`${manifestPath} names no executable in "main"`);
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

  const stamped = { ...manifest, version };
  if (root.repository !== undefined) stamped.repository = root.repository;
  writeFileSync(manifestPath, `${JSON.stringify(stamped, null, 2)}\n`);

  // `main` is where binaryPath() and older consumers look for the executable.
  const destination = join(packageDir, manifest.main);
  mkdirSync(dirname(destination), { recursive: true });
  copyFileSync(binary, destination);
  chmodSync(destination, 0o755);
  copyFileSync(join(ROOT, 'LICENSE'), join(packageDir, 'LICENSE'));
  console.log(`stamp-platform: ${manifest.name}@${version} with ${destination}`);
}

const args = parseArgs(process.argv.slice(2));
if (args.error !== undefined) fail(args.error);
else stamp(args);
