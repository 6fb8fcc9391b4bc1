/**
 * Writing a CA pair into its directory so that the pair in use always matches (SPEC §4), and finishing a write
 * that a crash interrupted. `ca-store.ts` decides when to write; this file owns how.
 *
 * Why the order is safe. A new pair is written to `ca.key.tmp-<r>` / `ca.crt.tmp-<r>` in the same directory
 * (same file system, so rename is atomic) and fsynced. Then the key is renamed into place — hard-linked on
 * first creation, so a concurrent creator cannot clobber it — then the certificate, then the directory is
 * fsynced. Two renames cannot be one atomic step, so the only intermediate state a crash can leave is "new
 * ca.key, old (or no) ca.crt, and `ca.crt.tmp-<r>` holding the certificate that matches the new key". Loading
 * checks the key against the certificate every time, sees the mismatch, and {@link rollForward} completes the
 * rename with the temp certificate that matches `ca.key` — only with one that matches. Before the key rename
 * nothing visible has changed, and a failure there removes both temp files.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import type { CaPems } from './ca-generate.js';
import { type CaMaterial, validateCaPair } from './ca-validate.js';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
const TMP_MARK = '.tmp-';

/** Test seams to prove atomicity: each runs at one step of the commit and may throw to simulate a crash. */
export interface CommitHooks {
  /** After both temp files are written and synced, before anything is renamed. */
  readonly beforeRename?: () => void | Promise<void>;
  /** After `ca.key` is in place, before `ca.crt` is: the window that {@link rollForward} repairs. */
  readonly betweenRenames?: () => void | Promise<void>;
}

/** A file's content, or why there is none: `absent` (no CA there) versus an error that must be reported. */
export type FileRead = { state: 'ok'; text: string } | { state: 'absent' } | { state: 'error'; code: string };

/** The errno code of a file-system error (`ENOENT`, `EACCES`, …), never its message. */
export function errno(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
}

/** Read a file as UTF-8; a missing file (or a path through a regular file, ENOTDIR) is `absent`. */
export async function readOptional(file: string): Promise<FileRead> {
  try {
    return { state: 'ok', text: await fs.readFile(file, 'utf8') };
  } catch (err) {
    const code = errno(err);
    return code === 'ENOENT' || code === 'ENOTDIR' ? { state: 'absent' } : { state: 'error', code };
  }
}

async function removeQuietly(file: string): Promise<void> {
  await fs.rm(file, { force: true }).catch(() => undefined);
}

/** Make a rename durable. Directories cannot be opened for fsync on Windows; there the rename is what we get. */
async function syncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r').catch(() => undefined);
  await handle?.sync().catch(() => undefined);
  await handle?.close();
}

async function writeSynced(file: string, text: string, mode: number): Promise<void> {
  // 'wx': never reuse a leftover file. Created 0600, then chmod: the umask could narrow 0644 but never widen.
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.chmod(mode);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Write `pems` into the existing directory `dir` in the order described above. `create` refuses to clobber an
 * existing key (another process won the race) and answers `exists`; `replace` renames over the old pair.
 * Throws the underlying file-system error (or a hook's) otherwise.
 */
export async function commitPair(
  dir: string,
  pems: CaPems,
  mode: 'create' | 'replace',
  hooks: CommitHooks = {},
): Promise<'committed' | 'exists'> {
  const suffix = `${TMP_MARK}${randomBytes(8).toString('hex')}`;
  const tmpKey = join(dir, CA_KEY_FILE + suffix);
  const tmpCert = join(dir, CA_CERT_FILE + suffix);
  let keyCommitted = false;
  try {
    await writeSynced(tmpKey, pems.keyPem, 0o600);
    await writeSynced(tmpCert, pems.certPem, 0o644);
    await hooks.beforeRename?.();
    if (mode === 'create') {
      try {
        await fs.link(tmpKey, join(dir, CA_KEY_FILE));
      } catch (err) {
        if (errno(err) === 'EEXIST') return 'exists';
        throw err;
      }
    } else {
      await fs.rename(tmpKey, join(dir, CA_KEY_FILE));
    }
    keyCommitted = true;
    await hooks.betweenRenames?.();
    await fs.rename(tmpCert, join(dir, CA_CERT_FILE)).catch((err: unknown) => {
      // ENOENT: a concurrent load already rolled this very file forward into ca.crt.
      if (errno(err) !== 'ENOENT') throw err;
    });
    await syncDir(dir);
    return 'committed';
  } finally {
    await removeQuietly(tmpKey);
    // Once the key is committed the temp certificate is the only one matching it: keep it for the roll-forward.
    if (!keyCommitted) await removeQuietly(tmpCert);
  }
}

/**
 * Finish an interrupted commit: find a `ca.crt.tmp-*` in `dir` that forms a valid CA with `keyPem` and rename
 * it to `ca.crt`. Returns the material, or undefined when no temp certificate matches (a real mismatch, which
 * the caller refuses). Throws the file-system error if the rename itself fails.
 */
export async function rollForward(dir: string, keyPem: string, now?: Date): Promise<CaMaterial | undefined> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(CA_CERT_FILE + TMP_MARK)).sort()) {
    const read = await readOptional(join(dir, name));
    if (read.state !== 'ok') continue;
    const check = await validateCaPair(read.text, keyPem, now);
    if (!check.ok) continue;
    await fs.rename(join(dir, name), join(dir, CA_CERT_FILE)).catch((err: unknown) => {
      // ENOENT: the writer (or another loader) put this same file in place a moment ago.
      if (errno(err) !== 'ENOENT') throw err;
    });
    await syncDir(dir);
    return check.ca;
  }
  return undefined;
}
