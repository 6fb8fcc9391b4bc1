/**
 * The CA on disk (SPEC §4): `ca.crt` + `ca.key` in a 0700 directory. Created when both are absent; loaded and
 * validated when present, never silently replaced; replaced by `ca regenerate`. How a pair is written so that
 * a crash never leaves a mismatched pair in use is `ca-commit.ts`; this file decides when, and turns every
 * failure into a {@link StartupError} with exit code 5 that names the directory.
 */
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode, StartupError } from '../exit-codes.js';
import {
  CA_CERT_FILE,
  CA_KEY_FILE,
  type CommitHooks,
  commitPair,
  errno,
  type FileRead,
  readOptional,
  rollForward,
} from './ca-commit.js';
import { type GenerateCaOptions, generateCa } from './ca-generate.js';
import { type CaMaterial, validateCaPair } from './ca-validate.js';

export { CA_CERT_FILE, CA_KEY_FILE, type CommitHooks } from './ca-commit.js';
export type { CaMaterial } from './ca-validate.js';

/** Options for creating or loading: a pinned hostname (CN) and clock, for tests. */
export type CaStoreOptions = Pick<GenerateCaOptions, 'hostname' | 'now'>;

function caError(what: string, dir: string, why: string, cause?: unknown): StartupError {
  return new StartupError(ExitCode.CaFailure, what, `${why} (${dir})`, { cause });
}

async function readPair(dir: string): Promise<[FileRead, FileRead]> {
  return Promise.all([readOptional(join(dir, CA_CERT_FILE)), readOptional(join(dir, CA_KEY_FILE))]);
}

/**
 * SPEC §4: directory 0700, key 0600 — also for a pair that was restored from a backup or a directory made by
 * someone else. Best effort: Windows has no POSIX modes, and a directory we do not own cannot be narrowed (the key
 * inside it still is).
 */
async function narrowModes(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  await fs.chmod(dir, 0o700).catch(() => {});
  await fs.chmod(join(dir, CA_KEY_FILE), 0o600).catch(() => {});
}

/** Complete an interrupted commit if one is there to complete; errors as load errors. */
async function tryRollForward(
  dir: string,
  keyPem: string,
  now: Date | undefined,
): Promise<CaMaterial | undefined> {
  try {
    return await rollForward(dir, keyPem, now);
  } catch (err) {
    throw caError('CA load failed', dir, `cannot complete an interrupted regenerate (${errno(err)})`, err);
  }
}

async function loadFrom(
  dir: string,
  cert: FileRead,
  key: FileRead,
  now: Date | undefined,
): Promise<CaMaterial> {
  const what = 'CA load failed';
  if (cert.state === 'error') throw caError(what, dir, `cannot read ${CA_CERT_FILE} (${cert.code})`);
  if (key.state === 'error') throw caError(what, dir, `cannot read ${CA_KEY_FILE} (${key.code})`);
  if (key.state === 'absent')
    throw caError(what, dir, `${CA_KEY_FILE} is missing but ${CA_CERT_FILE} is present`);
  if (cert.state === 'absent') {
    // A crash during first creation, after the key was placed, looks like this (see ca-commit.ts).
    const finished = await tryRollForward(dir, key.text, now);
    if (finished) return finished;
    throw caError(what, dir, `${CA_CERT_FILE} is missing but ${CA_KEY_FILE} is present`);
  }
  const check = await validateCaPair(cert.text, key.text, now);
  if (check.ok) {
    await narrowModes(dir);
    return check.ca;
  }
  if (check.problem === 'mismatch') {
    const finished = await tryRollForward(dir, key.text, now);
    if (finished) return finished;
  }
  throw caError(what, dir, check.why);
}

/** Create `dir` (0700, parents too) and commit a freshly generated pair with `mode`; exit-5 errors on failure. */
async function writeNewPair(
  dir: string,
  opts: CaStoreOptions,
  mode: 'create' | 'replace',
  hooks: CommitHooks,
): Promise<{ outcome: 'committed' | 'exists'; ca: CaMaterial }> {
  const what = mode === 'create' ? 'CA create failed' : 'CA regenerate failed';
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir leaves an existing directory's mode alone; the CA's directory is 0700 whoever made it.
    if (process.platform !== 'win32') await fs.chmod(dir, 0o700);
  } catch (err) {
    throw caError(what, dir, `cannot create the CA directory (${errno(err)})`, err);
  }
  const pems = await generateCa(opts);
  const check = await validateCaPair(pems.certPem, pems.keyPem, opts.now);
  if (!check.ok) throw caError(what, dir, `generated CA failed validation: ${check.why}`);
  try {
    return { outcome: await commitPair(dir, pems, mode, hooks), ca: check.ca };
  } catch (err) {
    throw caError(what, dir, `cannot write the CA files (${errno(err)})`, err);
  }
}

/**
 * Load the CA from `dir`, creating directory and pair when BOTH files are absent (SPEC §4: first `serve` or
 * `ca export`). A present pair that is unreadable, corrupt, mismatched, expired or not a CA — or one file
 * without the other — is a {@link StartupError} with exit code 5; nothing on disk is replaced.
 */
export async function loadOrCreateCa(dir: string, opts: CaStoreOptions = {}): Promise<CaMaterial> {
  const [cert, key] = await readPair(dir);
  if (cert.state !== 'absent' || key.state !== 'absent') return loadFrom(dir, cert, key, opts.now);
  const created = await writeNewPair(dir, opts, 'create', {});
  if (created.outcome === 'committed') return created.ca;
  // Another process created the CA between our read and our link: use theirs.
  return loadCa(dir, opts);
}

/** Load and validate the pair in `dir`; never creates one (SIGHUP reload, SPEC §8). Errors as loadOrCreateCa. */
export async function loadCa(dir: string, opts: Pick<CaStoreOptions, 'now'> = {}): Promise<CaMaterial> {
  const [cert, key] = await readPair(dir);
  if (cert.state === 'absent' && key.state === 'absent') {
    throw caError('CA load failed', dir, `no CA found (${CA_CERT_FILE} and ${CA_KEY_FILE} are missing)`);
  }
  return loadFrom(dir, cert, key, opts.now);
}

/**
 * Replace the pair in `dir` with a new one (`ca regenerate --confirm`, SPEC §4), creating `dir` if needed.
 * Whatever was there — valid or corrupt — is replaced; that is the command's purpose. `hooks` are test seams.
 */
export async function regenerateCa(
  dir: string,
  opts: CaStoreOptions = {},
  hooks: CommitHooks = {},
): Promise<CaMaterial> {
  return (await writeNewPair(dir, opts, 'replace', hooks)).ca;
}
