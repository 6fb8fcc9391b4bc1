/**
 * The `ca` commands (SPEC §1, §4): `ca path`, `ca export`, `ca regenerate --confirm` (`ca env` is in ca-env.ts). Each is a function that
 * writes to a {@link CliIo} and throws a {@link StartupError} for `main.ts` to print and turn into an exit code.
 */
import { writeFile } from 'node:fs/promises';
import { ExitCode, StartupError } from '../exit-codes.js';
import { loadOrCreateCa, regenerateCa } from '../tls/ca-store.js';
import type { CliIo } from './io.js';

/** Output encodings of `ca export`: PEM as in ca.crt, raw DER, or DER as one base64 line. */
export type CaExportFormat = 'pem' | 'der' | 'der-base64';

/** Options of {@link caExport}. */
export interface CaExportOptions {
  readonly caDir: string;
  readonly format: CaExportFormat;
  /** Write here instead of stdout. */
  readonly out?: string;
}

/** Options of {@link caRegenerate}. */
export interface CaRegenerateOptions {
  readonly caDir: string;
  /** `--confirm`: without it nothing changes and the command exits 2 (SPEC §1). */
  readonly confirm: boolean;
  /** OS bundles for rebuilding `bundle.pem` (see `ca env`); default: the platform list. */
  readonly osBundlePaths?: readonly string[];
}

/** `ca path`: print the CA directory in use, one line. */
export function caPath(caDir: string, io: CliIo): void {
  io.stdout.write(`${caDir}\n`);
}

/** Resolve once `data` is handed to the stream, so the caller's exit does not cut it short. */
function writeAll(stream: NodeJS.WritableStream, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (err?: Error | null) => (err ? reject(err) : resolve()));
  });
}

/**
 * `ca export`: write the CA certificate — never the key — to `out` or stdout, creating the CA first if there is
 * none (SPEC §4). Raw DER to a terminal is refused: it would only garble the screen (exit 2).
 */
export async function caExport(opts: CaExportOptions, io: CliIo): Promise<void> {
  if (opts.format === 'der' && opts.out === undefined && io.stdout.isTTY === true) {
    throw new StartupError(
      ExitCode.InvalidConfig,
      'ca export',
      'refusing to write binary DER to a terminal; use --out or --format der-base64',
    );
  }
  const ca = await loadOrCreateCa(opts.caDir);
  let data: string | Uint8Array;
  switch (opts.format) {
    case 'pem':
      data = ca.certPem;
      break;
    case 'der':
      data = ca.cert.raw;
      break;
    case 'der-base64':
      data = `${ca.cert.raw.toString('base64')}\n`;
      break;
  }
  if (opts.out === undefined) {
    await writeAll(io.stdout, data);
    return;
  }
  try {
    // 0644: a certificate is public; workloads and trust-store tools need to read it.
    await writeFile(opts.out, data, { mode: 0o644 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'write failed';
    throw new StartupError(ExitCode.InvalidConfig, 'ca export', `cannot write ${opts.out} (${code})`, {
      cause: err,
    });
  }
}

/**
 * `ca regenerate`: replace the CA atomically (SPEC §4) and print the directory and the new certificate's
 * SHA-256 fingerprint. Without `confirm` it changes nothing (exit 2). A missing directory is simply created.
 */
export async function caRegenerate(opts: CaRegenerateOptions, io: CliIo): Promise<void> {
  if (!opts.confirm) {
    throw new StartupError(
      ExitCode.InvalidConfig,
      'ca regenerate',
      'refusing without --confirm: this replaces the CA every workload trusts',
    );
  }
  const ca = await regenerateCa(opts.caDir);
  await writeAll(io.stdout, `CA directory: ${opts.caDir}\nSHA-256 fingerprint: ${ca.fingerprint256}\n`);
  // Issue 13: a bundle `ca env` wrote holds the old CA — rewrite ours, name the others.
  const { refreshBundles } = await import('./ca-env.js');
  const { OS_BUNDLE_PATHS } = await import('../tls/trust-bundle.js');
  await refreshBundles(opts.caDir, ca, opts.osBundlePaths ?? OS_BUNDLE_PATHS, io);
}
