/**
 * Render environment assignments for `ca env` in one shell's syntax, so that `eval "$(clef-proxy ca env)"` (and the
 * fish, PowerShell and dotenv equivalents) set exactly the bytes given — paths with spaces, quotes, `$` or
 * backslashes included. A value is a list of parts: literal text, or a reference to another variable that the shell
 * reads when the line is evaluated (how the proxy URL gets its password without the command ever printing it).
 */

/** The output syntaxes of `ca env --shell`. */
export type ShellKind = 'sh' | 'fish' | 'powershell' | 'dotenv';

export const SHELL_KINDS: readonly ShellKind[] = Object.freeze(['sh', 'fish', 'powershell', 'dotenv']);

/** One part of a value: literal text, or `{ ref: NAME }` — the variable NAME's value at evaluation time. */
export type ValuePart = string | { readonly ref: string };

/** Thrown when a value cannot be written safely in the chosen syntax (dotenv has no escape for every byte). */
export class UnquotableError extends Error {}

/** POSIX sh (bash, zsh, dash): single quotes keep every byte; a `'` is closed, escaped and reopened. */
function sh(parts: readonly ValuePart[]): string {
  return parts
    .map((p) => (typeof p === 'string' ? `'${p.replaceAll("'", `'\\''`)}'` : `"\${${p.ref}}"`))
    .join('');
}

/** fish: in single quotes only `\` and `'` are special. A reference in double quotes is one (possibly empty) word. */
function fish(parts: readonly ValuePart[]): string {
  return parts
    .map((p) =>
      typeof p === 'string' ? `'${p.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'` : `"$${p.ref}"`,
    )
    .join('');
}

/** PowerShell: single-quoted strings are verbatim with `''` for a quote; parts are joined with `+`. */
function powershell(parts: readonly ValuePart[]): string {
  return parts
    .map((p) => (typeof p === 'string' ? `'${p.replaceAll("'", "''")}'` : `$env:${p.ref}`))
    .join(' + ');
}

/**
 * dotenv (python-dotenv, Docker Compose `env_file`, node `dotenv`): dialects differ on escapes, so only forms they
 * agree on are used — a literal in single quotes (verbatim everywhere), a value with a reference in double quotes
 * with `${NAME}` (interpolated by python-dotenv and Compose; node needs dotenv-expand). Anything needing an escape
 * is refused rather than written in a way one reader would misread.
 */
function dotenv(parts: readonly ValuePart[]): string {
  const literal = parts.every((p) => typeof p === 'string');
  const text = parts.map((p) => (typeof p === 'string' ? p : `\${${p.ref}}`)).join('');
  if (/[\r\n]/.test(text)) throw new UnquotableError('a line break cannot be written in dotenv');
  // python-dotenv still decodes `\\` and `\'` inside single quotes: a backslash is not verbatim anywhere.
  if (literal && !/['\\]/.test(text)) return `'${text}'`;
  if (/["\\$`]/.test(parts.filter((p) => typeof p === 'string').join('')))
    throw new UnquotableError('this value needs quoting dotenv files do not agree on');
  return `"${text}"`;
}

/** One assignment line (no trailing newline). `name` must be a plain identifier. */
export function renderAssignment(shell: ShellKind, name: string, parts: readonly ValuePart[]): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new UnquotableError(`not a variable name: ${name}`);
  const value = parts.length === 0 ? [''] : parts;
  switch (shell) {
    case 'sh':
      return `export ${name}=${sh(value)}`;
    case 'fish':
      return `set -gx ${name} ${fish(value)}`;
    case 'powershell':
      return `$env:${name} = ${powershell(value)}`;
    case 'dotenv':
      return `${name}=${dotenv(value)}`;
  }
}
