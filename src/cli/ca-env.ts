/**
 * `ca env` (issue 13, docs/ca.md): make the proxy's CA trusted by the usual clients in one `eval`. It creates the CA
 * if missing (as `serve` does), writes the merged bundle (system roots + our CA), and prints assignments for the
 * variables each client reads. `ca regenerate` calls {@link refreshBundles} so no bundle keeps the old CA silently.
 */
import { appendFile, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { proxyUrlProblem } from '../config/text-values.js';
import { ExitCode, StartupError } from '../exit-codes.js';
import { CA_CERT_FILE, type CaMaterial, loadOrCreateCa } from '../tls/ca-store.js';
import { buildTrustBundle, writeBundleAtomic } from '../tls/trust-bundle.js';
import type { CliIo } from './io.js';
import { renderAssignment, type ShellKind, UnquotableError, type ValuePart } from './shell-env.js';

/** The default bundle, beside the CA; `ca regenerate` rewrites it. */
export const BUNDLE_FILE = 'bundle.pem';
/** Bundles written elsewhere (`--bundle`), one absolute path a line; `ca regenerate` names them as stale. */
export const BUNDLE_REGISTRY_FILE = 'bundles.txt';
/** The variable the printed proxy URL takes its password from, at evaluation time. */
export const TOKEN_VARIABLE = 'CLEF_PROXY_TOKEN';
/** Username put in the printed proxy URL when `--proxy-url` has none (Basic auth needs one; SPEC §9 ignores it). */
export const DEFAULT_PROXY_USER = 'workload';

/** Variables that take the whole merged bundle: each of these tools replaces its trust store with the file. */
export const BUNDLE_VARIABLES: readonly string[] = Object.freeze([
  'SSL_CERT_FILE',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'GIT_SSL_CAINFO',
  'AWS_CA_BUNDLE',
  'PIP_CERT',
  'DENO_CERT',
]);

export interface CaEnvOptions {
  readonly caDir: string;
  readonly shell: ShellKind;
  /** Where to write the bundle; default `bundle.pem` in the CA directory. */
  readonly bundle?: string;
  /** The proxy URL to print as HTTPS_PROXY/HTTP_PROXY; its password is never printed. */
  readonly proxyUrl?: string;
  /** OS bundles to search (first found wins): the platform list, or `CLEF_PROXY_SYSTEM_BUNDLE`. */
  readonly osBundlePaths: readonly string[];
}

function usage(why: string): StartupError {
  return new StartupError(ExitCode.InvalidConfig, 'ca env', why);
}

/** The printed proxy URL: the user kept (or `workload`), the password always a reference to CLEF_PROXY_TOKEN. */
export function proxyUrlParts(text: string): { parts: ValuePart[]; droppedPassword: boolean } {
  const problem = proxyUrlProblem(text);
  if (problem !== undefined) throw usage(`--proxy-url: ${problem}`);
  const url = new URL(text);
  // `url.username` is already percent-encoded, as a URL needs it.
  const user = url.username === '' ? DEFAULT_PROXY_USER : url.username;
  return {
    parts: [`${url.protocol}//${user}:`, { ref: TOKEN_VARIABLE }, `@${url.host}`],
    droppedPassword: url.password !== '',
  };
}

/** Write the merged bundle for `ca`; a write failure is exit 2, like `ca export --out`. */
async function writeBundle(ca: CaMaterial, path: string, osPaths: readonly string[]) {
  const built = await buildTrustBundle(ca.certPem, osPaths);
  try {
    await writeBundleAtomic(path, built.text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'write failed';
    throw usage(`cannot write ${path} (${code})`);
  }
  return built;
}

/** `ca env`: write the bundle, print the assignments. */
export async function caEnv(opts: CaEnvOptions, io: CliIo): Promise<void> {
  // Flags first (exit 2) so a typo never creates a CA or a file.
  const proxy = opts.proxyUrl === undefined ? undefined : proxyUrlParts(opts.proxyUrl);
  const ca = await loadOrCreateCa(opts.caDir);
  const defaultPath = join(opts.caDir, BUNDLE_FILE);
  const bundlePath = opts.bundle === undefined ? defaultPath : resolve(opts.bundle);
  const built = await writeBundle(ca, bundlePath, opts.osBundlePaths);
  if (bundlePath !== defaultPath) await remember(opts.caDir, bundlePath, io);

  const lines: string[] = [];
  try {
    lines.push(renderAssignment(opts.shell, 'NODE_EXTRA_CA_CERTS', [join(opts.caDir, CA_CERT_FILE)]));
    for (const name of BUNDLE_VARIABLES) lines.push(renderAssignment(opts.shell, name, [bundlePath]));
    if (proxy !== undefined) {
      // curl reads only the lower-case http_proxy (httpoxy); most other tools take either spelling.
      for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy'])
        lines.push(renderAssignment(opts.shell, name, proxy.parts));
    }
  } catch (err) {
    if (err instanceof UnquotableError) throw usage(`--shell ${opts.shell}: ${err.message}`);
    throw err;
  }
  io.stdout.write(`${lines.join('\n')}\n`);
  const os = built.osBundle === undefined ? 'no OS bundle found' : `OS bundle ${built.osBundle}`;
  io.stderr.write(
    `clef-proxy: wrote ${bundlePath} (${built.count} certificates: Node's roots, ${os}, the CA)\n`,
  );
  if (proxy?.droppedPassword === true)
    io.stderr.write(
      `clef-proxy: the password in --proxy-url was not printed; the proxy URL reads it from ${TOKEN_VARIABLE}\n`,
    );
}

/** Record a bundle written outside the CA directory, so `ca regenerate` can name it. Best effort. */
async function remember(caDir: string, path: string, io: CliIo): Promise<void> {
  const registry = join(caDir, BUNDLE_REGISTRY_FILE);
  const known = (await readFile(registry, 'utf8').catch(() => '')).split('\n');
  if (known.includes(path)) return;
  await appendFile(registry, `${path}\n`, { mode: 0o644 }).catch((err: NodeJS.ErrnoException) => {
    io.stderr.write(`clef-proxy: could not record ${path} in ${registry} (${err.code ?? 'error'})\n`);
  });
}

/**
 * After `ca regenerate`: rewrite `bundle.pem` beside the CA if it exists, and name every recorded bundle elsewhere
 * that still exists as stale (it holds the old CA; we do not write outside the CA directory unasked).
 */
export async function refreshBundles(
  caDir: string,
  ca: CaMaterial,
  osPaths: readonly string[],
  io: CliIo,
): Promise<void> {
  const own = join(caDir, BUNDLE_FILE);
  if (await exists(own)) {
    await writeBundle(ca, own, osPaths);
    io.stdout.write(`Bundle rewritten: ${own}\n`);
  }
  const registry = await readFile(join(caDir, BUNDLE_REGISTRY_FILE), 'utf8').catch(() => '');
  for (const path of registry.split('\n').filter(Boolean)) {
    if (path === own || !(await exists(path))) continue;
    io.stdout.write(`Stale bundle (holds the old CA): ${path} — run: clef-proxy ca env --bundle ${path}\n`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
