import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, locateJsonError, parseJsonText } from '../../../src/config/load.js';
import { ExitCode, StartupError } from '../../../src/exit-codes.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clef-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function failure(path: string): Promise<StartupError> {
  const err = await loadConfigFile(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StartupError);
  return err as StartupError;
}

describe('loadConfigFile', () => {
  it('loads a good file into a frozen config', async () => {
    const path = await file('good.json', '{"listen": "127.0.0.1:0", "log_level": "debug"}');
    const config = await loadConfigFile(path);
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 0 });
    expect(config.logLevel).toBe('debug');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('loads the shipped fixtures', async () => {
    for (const name of ['minimal', 'full', 'lambda']) {
      await expect(loadConfigFile(`fixtures/config/${name}.json`)).resolves.toHaveProperty('listen');
    }
  });

  it('accepts a UTF-8 byte-order mark', async () => {
    const path = await file('bom.json', '\uFEFF{"listen": "127.0.0.1:0"}');
    await expect(loadConfigFile(path)).resolves.toHaveProperty('listen.port', 0);
  });

  it('a missing file is exit 2', async () => {
    const path = join(dir, 'nope.json');
    const err = await failure(path);
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.what).toBe(`invalid config ${path}`);
    expect(err.message).toBe(`invalid config ${path}: cannot read the file: no such file`);
  });

  it('a directory is exit 2', async () => {
    const path = join(dir, 'a-dir');
    await mkdir(path);
    const err = await failure(path);
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.message).toBe(`invalid config ${path}: cannot read the file: is a directory`);
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)(
    'an unreadable file is exit 2',
    async () => {
      const path = await file('secret.json', '{"listen": "127.0.0.1:0"}');
      await chmod(path, 0o000);
      const err = await failure(path);
      expect(err.code).toBe(ExitCode.InvalidConfig);
      expect(err.message).toBe(`invalid config ${path}: cannot read the file: permission denied`);
    },
  );

  it('invalid JSON says where, and never quotes the file', async () => {
    const path = await file(
      'bad.json',
      '{\n  "listen": "127.0.0.1:0",\n  "upstream_proxy": {"url": "http://u:hunter2@p:1"} x\n}',
    );
    const err = await failure(path);
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.message).toBe(
      `invalid config ${path}: invalid JSON at line 3, column 53: expected ',' or '}' after property value`,
    );
    expect(err.message).not.toContain('hunter2');
  });

  it('schema issues: exit 2, the first in the message, the rest in details', async () => {
    const path = await file('issues.json', JSON.stringify({ limits: { max_connections: -1 }, bogus: true }));
    const err = await failure(path);
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.message).toBe(`invalid config ${path}: listen: required`);
    expect(err.details).toEqual([
      'limits.max_connections: expected a positive integer, got -1',
      'bogus: unknown key',
    ]);
  });
});

describe('parseJsonText', () => {
  it.each([
    ['', 'invalid JSON: the file is empty'],
    ['  \n ', 'invalid JSON: the file is empty'],
    ['{', "invalid JSON: unexpected end of input: expected property name or '}'"],
    ['[1,', 'invalid JSON: unexpected end of input'],
    ['{"a":1,}', 'invalid JSON at line 1, column 8: expected double-quoted property name'],
    ['[1, x]', 'invalid JSON at line 1, column 5'],
    ['{"a": tru}', 'invalid JSON at line 1, column 7'],
    ['{"a": NaN}', 'invalid JSON at line 1, column 7'],
    ['\n\n  {"a" 1}', "invalid JSON at line 3, column 8: expected ':' after property name"],
    ['{"a":1}}', 'invalid JSON at line 1, column 8: unexpected non-whitespace character after JSON'],
    [`{"key": "${'s'.repeat(50)}", "b": nul}`, 'invalid JSON at line 1, column 68'],
  ])('%j → %s', (text, reason) => {
    expect(parseJsonText(text)).toEqual({ ok: false, reason });
  });

  it('parses valid JSON', () => {
    expect(parseJsonText('{"a":[1,true,null,"x"]}')).toEqual({
      ok: true,
      value: { a: [1, true, null, 'x'] },
    });
  });
});

describe('locateJsonError', () => {
  it.each([
    ['{"a": 1}', -1],
    ['[1, 2, {"b": [true, false, null, -1.5e3, "\\u00e9\\n"]}]', -1],
    ['[1, x]', 4],
    ['{"a": tru}', 6],
    ['{"a" 1}', 5],
    ['{"a": 1,}', 8],
    ['[01]', 2],
    ['"a\tb"', 0],
    ['{} {}', 3],
    ['[', 1],
  ])('%j → %i', (text, offset) => {
    expect(locateJsonError(text)).toBe(offset);
  });
});
