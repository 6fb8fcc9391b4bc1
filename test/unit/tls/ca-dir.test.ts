import { describe, expect, it } from 'vitest';
import { type Env, readEnv } from '../../../src/config/env.js';
import { ExitCode, StartupError } from '../../../src/exit-codes.js';
import { defaultCaDir, resolveCaDir } from '../../../src/tls/ca-dir.js';

function env(vars: Record<string, string>, platform: NodeJS.Platform): Env {
  return readEnv(vars, platform);
}

describe('defaultCaDir (SPEC §4 platform defaults)', () => {
  it.each([
    ['linux', { XDG_DATA_HOME: '/xdg', HOME: '/home/u' }, '/xdg/clef/proxy/ca'],
    ['linux', { HOME: '/home/u' }, '/home/u/.local/share/clef/proxy/ca'],
    // A relative XDG_DATA_HOME is invalid per the XDG spec and ignored.
    ['linux', { XDG_DATA_HOME: 'rel/dir', HOME: '/home/u' }, '/home/u/.local/share/clef/proxy/ca'],
    ['linux', { XDG_DATA_HOME: '', HOME: '/home/u' }, '/home/u/.local/share/clef/proxy/ca'],
    ['freebsd', { HOME: '/usr/home/u' }, '/usr/home/u/.local/share/clef/proxy/ca'],
    [
      'darwin',
      { HOME: '/Users/u', XDG_DATA_HOME: '/xdg' },
      '/Users/u/Library/Application Support/clef/proxy/ca',
    ],
    [
      'win32',
      { LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' },
      'C:\\Users\\u\\AppData\\Local\\clef\\proxy\\ca',
    ],
    ['win32', { USERPROFILE: 'C:\\Users\\u', LOCALAPPDATA: 'D:\\data' }, 'D:\\data\\clef\\proxy\\ca'],
  ] as const)('%s %j → %s', (platform, vars, expected) => {
    expect(defaultCaDir(env(vars, platform))).toBe(expected);
  });

  it.each([
    ['linux', {}, 'HOME'],
    ['darwin', {}, 'HOME'],
    ['win32', { HOME: '/home/u' }, 'LOCALAPPDATA'],
  ] as const)('%s with %j → exit-5 error naming %s', (platform, vars, variable) => {
    let caught: unknown;
    try {
      defaultCaDir(env(vars, platform));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StartupError);
    expect((caught as StartupError).code).toBe(ExitCode.CaFailure);
    expect((caught as StartupError).message).toContain(variable);
  });
});

describe('resolveCaDir (SPEC §4 order: env, config, default)', () => {
  it.each([
    ['env wins over config', { CLEF_PROXY_CA_DIR: '/env/ca', HOME: '/h' }, '/cfg/ca', '/env/ca'],
    ['config when env unset', { HOME: '/h' }, '/cfg/ca', '/cfg/ca'],
    ['config when env empty', { CLEF_PROXY_CA_DIR: '', HOME: '/h' }, '/cfg/ca', '/cfg/ca'],
    ['default when neither', { HOME: '/h' }, undefined, '/h/.local/share/clef/proxy/ca'],
    ['default when config empty', { HOME: '/h' }, '', '/h/.local/share/clef/proxy/ca'],
    ['env needs no HOME', { CLEF_PROXY_CA_DIR: '/env/ca' }, undefined, '/env/ca'],
  ] as const)('%s', (_name, vars, configDir, expected) => {
    expect(resolveCaDir(configDir, env(vars, 'linux'))).toBe(expected);
  });
});
