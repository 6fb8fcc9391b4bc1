/**
 * Which directory holds the CA (SPEC §4): `CLEF_PROXY_CA_DIR`, else the config's `ca_dir`, else the platform
 * default. Pure: the environment arrives as an {@link Env}, so every platform is testable on any machine.
 */
import * as path from 'node:path';
import type { Env } from '../config/env.js';
import { ExitCode, StartupError } from '../exit-codes.js';

/** The path segments below the platform's per-user data directory. */
const APP_SEGMENTS = ['clef', 'proxy', 'ca'] as const;

type PlatformInputs = Pick<Env, 'platform' | 'home' | 'xdgDataHome' | 'localAppData'>;

function noBase(variable: string): StartupError {
  return new StartupError(
    ExitCode.CaFailure,
    'CA directory',
    `cannot work out the default location: ${variable} is not set; set CLEF_PROXY_CA_DIR or ca_dir`,
  );
}

/**
 * The platform default: Linux and other Unixes `$XDG_DATA_HOME/clef/proxy/ca` (XDG Base Directory spec: a
 * relative XDG_DATA_HOME is invalid and ignored) else `~/.local/share/clef/proxy/ca`; macOS
 * `~/Library/Application Support/clef/proxy/ca`; Windows `%LOCALAPPDATA%\clef\proxy\ca`.
 * Throws a {@link StartupError} (exit 5) when the variable it needs is unset.
 */
export function defaultCaDir(env: PlatformInputs): string {
  switch (env.platform) {
    case 'win32': {
      // path.win32 so the result uses backslashes even when this runs (e.g. in a test) on a POSIX host.
      if (env.localAppData === undefined) throw noBase('LOCALAPPDATA');
      return path.win32.join(env.localAppData, ...APP_SEGMENTS);
    }
    case 'darwin': {
      if (env.home === undefined) throw noBase('HOME');
      return path.posix.join(env.home, 'Library', 'Application Support', ...APP_SEGMENTS);
    }
    default: {
      if (env.xdgDataHome !== undefined && path.posix.isAbsolute(env.xdgDataHome)) {
        return path.posix.join(env.xdgDataHome, ...APP_SEGMENTS);
      }
      if (env.home === undefined) throw noBase('HOME');
      return path.posix.join(env.home, '.local', 'share', ...APP_SEGMENTS);
    }
  }
}

/**
 * Resolve the CA directory in SPEC §4 order. `configCaDir` is the config file's `ca_dir` (already resolved to
 * an absolute path by the config loader, if it chooses to), undefined when the file sets none or there is no file.
 */
export function resolveCaDir(configCaDir: string | undefined, env: Env): string {
  if (env.caDir !== undefined && env.caDir !== '') return env.caDir;
  if (configCaDir !== undefined && configCaDir !== '') return configCaDir;
  return defaultCaDir(env);
}
