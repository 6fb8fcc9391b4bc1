/**
 * `ca env` quoting (issue 13): every shell's line sets exactly the bytes given — spaces, both quotes, `$`, backquotes,
 * backslashes — and a reference part is read at evaluation time. bash and zsh evaluate the lines for real; fish and
 * PowerShell do too when installed (else skipped with the reason printed), and their text is checked either way.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { renderAssignment, type ShellKind, UnquotableError } from '../../../src/cli/shell-env.js';

const TRICKY = [
  '/plain/path/bundle.pem',
  '/tmp/with space/bundle.pem',
  "/tmp/it's/bundle.pem",
  '/tmp/"dq"/b.pem',
  '/tmp/$HOME/`id`/$(id)/b.pem',
  '/tmp/back\\slash/b\\\\.pem',
  '/tmp/\'\' "" mixed \'"/b.pem',
  '/tmp/ünï/b.pem',
  '',
];

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Evaluate `line` in `shell` with CLEF_PROXY_TOKEN set, and print the variable's value. */
function evalIn(shell: string, line: string, name: string, token = 't0k'): string {
  const env = { PATH: process.env.PATH ?? '', CLEF_PROXY_TOKEN: token };
  if (shell === 'fish')
    return execFileSync('fish', ['-c', `${line}; printf %s "$${name}"`], { env }).toString();
  if (shell === 'pwsh')
    return execFileSync('pwsh', ['-NoProfile', '-Command', `${line}; [Console]::Write($env:${name})`], {
      env,
    }).toString();
  // The same form the docs give: eval "$(clef-proxy ca env)".
  // (Not $LINES: zsh keeps the terminal height there.)
  return execFileSync(shell, ['-c', `eval "$(printf '%s\\n' "$CLEF_ENV_OUT")"; printf %s "$${name}"`], {
    env: { ...env, CLEF_ENV_OUT: line },
  }).toString();
}

const SHELLS: ReadonlyArray<readonly [string, ShellKind]> = [
  ['bash', 'sh'],
  ['zsh', 'sh'],
  ['fish', 'fish'],
  ['pwsh', 'powershell'],
];

describe.each(SHELLS)('%s evaluates the %s lines to the exact bytes', (shell, kind) => {
  const present = has(shell);
  if (!present) console.warn(`shell-env.test: skipping real ${shell} evaluation: ${shell} is not installed`);

  it.skipIf(!present).each(TRICKY)('literal %j', (value) => {
    expect(evalIn(shell, renderAssignment(kind, 'SSL_CERT_FILE', [value]), 'SSL_CERT_FILE')).toBe(value);
  });

  it.skipIf(!present)('a proxy URL whose password is read from CLEF_PROXY_TOKEN at evaluation time', () => {
    const line = renderAssignment(kind, 'HTTPS_PROXY', [
      "http://us'er:",
      { ref: 'CLEF_PROXY_TOKEN' },
      '@127.0.0.1:8080',
    ]);
    expect(line).not.toContain('s3cret');
    expect(evalIn(shell, line, 'HTTPS_PROXY', 's3cret')).toBe("http://us'er:s3cret@127.0.0.1:8080");
  });
});

describe('the text of each syntax', () => {
  it.each<[ShellKind, string]>([
    ['sh', `export X='/a b/it'\\''s'`],
    ['fish', `set -gx X '/a b/it\\'s'`],
    ['powershell', `$env:X = '/a b/it''s'`],
    ['dotenv', `X="/a b/it's"`],
  ])('%s', (kind, expected) => {
    expect(renderAssignment(kind, 'X', ["/a b/it's"])).toBe(expected);
  });

  it.each<[ShellKind, string]>([
    ['sh', `export P='http://u:'"\${CLEF_PROXY_TOKEN}"'@h:1'`],
    ['fish', `set -gx P 'http://u:'"$CLEF_PROXY_TOKEN"'@h:1'`],
    ['powershell', `$env:P = 'http://u:' + $env:CLEF_PROXY_TOKEN + '@h:1'`],
    ['dotenv', `P="http://u:\${CLEF_PROXY_TOKEN}@h:1"`],
  ])('%s: a reference', (kind, expected) => {
    expect(renderAssignment(kind, 'P', ['http://u:', { ref: 'CLEF_PROXY_TOKEN' }, '@h:1'])).toBe(expected);
  });

  it('dotenv: plain values single-quoted; refuses what its dialects would read differently', () => {
    expect(renderAssignment('dotenv', 'X', ['/a b/c.pem'])).toBe(`X='/a b/c.pem'`);
    expect(() => renderAssignment('dotenv', 'X', [`/it's/"q".pem`])).toThrow(UnquotableError);
    expect(() => renderAssignment('dotenv', 'X', ['/a\nb'])).toThrow(UnquotableError);
  });

  it('refuses a name that is not an identifier', () => {
    expect(() => renderAssignment('sh', 'A;rm', ['x'])).toThrow(UnquotableError);
  });
});
