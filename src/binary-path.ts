/**
 * How a supervisor (the agent) starts the proxy on this machine: the platform package's single executable when npm
 * installed one that matches this package's version, else this package's own `bin/clef-proxy` under the running
 * Node. The platform packages and why they are optional: docs/distribution.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A command line to spawn: `spawn(command, [...args, 'serve', '--config', file])`. */
export interface BinaryCommand {
  readonly command: string;
  readonly args: readonly string[];
}

/** The `<platform>-<arch>` pairs that have a platform package `@clef-sh/proxy-<platform>-<arch>` (npm/). */
export const PLATFORM_TARGETS = [
  'darwin-arm64',
  'darwin-x64',
  'linux-arm64',
  'linux-x64',
  'win32-x64',
] as const;

/** One of {@link PLATFORM_TARGETS}. */
export type PlatformTarget = (typeof PLATFORM_TARGETS)[number];

/** What {@link binaryPath} looks at. Every field defaults to this process and this install; tests pass their own. */
export interface BinaryPathOptions {
  readonly platform?: string;
  readonly arch?: string;
  /** Linux only. The platform binaries are Node builds linked against glibc; on musl (Alpine) they cannot run. */
  readonly libc?: 'glibc' | 'musl';
  /** Resolve a specifier to a file path, as `require.resolve` from this package does. Throws when not found. */
  readonly resolve?: (specifier: string) => string;
  readonly readJson?: (path: string) => unknown;
  readonly exists?: (path: string) => boolean;
  /** This package's version; the platform package must carry the same one. */
  readonly version?: string;
  readonly execPath?: string;
}

/** The platform package's name for a platform and architecture, or undefined when none is published for it. */
export function platformPackageName(platform: string, arch: string): string | undefined {
  const target = `${platform}-${arch}`;
  return (PLATFORM_TARGETS as readonly string[]).includes(target) ? `@clef-sh/proxy-${target}` : undefined;
}

/** Where the executable sits inside a platform package (its `main` says the same, for older consumers). */
export function binaryFileName(platform: string): string {
  return platform === 'win32' ? 'bin/clef-proxy.exe' : 'bin/clef-proxy';
}

/** `bin/clef-proxy` of this package: from src/ (tests) and dist/ (installed) alike it is one level up. */
const BIN_SCRIPT = fileURLToPath(new URL('../bin/clef-proxy', import.meta.url));

function readJsonFile(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function versionOf(manifest: unknown): string | undefined {
  const version = (manifest as { version?: unknown } | null)?.version;
  return typeof version === 'string' ? version : undefined;
}

/** Node records the glibc it runs on in its diagnostic report header; a musl build has no such field. */
function detectLibc(): 'glibc' | 'musl' {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime === undefined ? 'musl' : 'glibc';
}

/**
 * The command that runs the clef-proxy CLI here. Prefers the platform executable (no Node startup, one file);
 * falls back to `{ command: process.execPath, args: [<this package>/bin/clef-proxy] }` when the platform has no
 * package, npm skipped it (`--omit=optional`, an unsupported libc), its version differs from this package's (a
 * hoisted copy another dependency asked for), or its binary is missing. Never throws for any of these.
 */
export function binaryPath(options: BinaryPathOptions = {}): BinaryCommand {
  const platform = options.platform ?? process.platform;
  const arch = options.arch ?? process.arch;
  const readJson = options.readJson ?? readJsonFile;
  const fallback: BinaryCommand = { command: options.execPath ?? process.execPath, args: [BIN_SCRIPT] };

  const name = platformPackageName(platform, arch);
  if (name === undefined) return fallback;
  if (platform === 'linux' && (options.libc ?? detectLibc()) !== 'glibc') return fallback;

  let manifestPath: string;
  try {
    // Resolved from this package, so npm's nesting hands us the copy our optionalDependencies asked for.
    manifestPath = (options.resolve ?? createRequire(import.meta.url).resolve)(`${name}/package.json`);
  } catch {
    return fallback;
  }
  const ownVersion =
    options.version ?? versionOf(readJson(fileURLToPath(new URL('../package.json', import.meta.url))));
  let platformVersion: string | undefined;
  try {
    platformVersion = versionOf(readJson(manifestPath));
  } catch {
    return fallback;
  }
  if (platformVersion === undefined || platformVersion !== ownVersion) return fallback;

  const binary = join(dirname(manifestPath), binaryFileName(platform));
  return (options.exists ?? existsSync)(binary) ? { command: binary, args: [] } : fallback;
}
