/**
 * The merged trust bundle `ca env` writes (issue 13): the system roots — Node's bundled `tls.rootCertificates` plus
 * the OS bundle when one is found — followed by our CA, deduplicated by DER. Tools such as Python `requests`, `uv`,
 * curl and git *replace* their whole trust store with the file they are given, so pointing them at our CA alone
 * would break every passthrough host; this bundle keeps the public roots and adds ours.
 */
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { rootCertificates } from 'node:tls';

/**
 * Where Linux distributions and macOS keep the system PEM bundle, first found wins (the list Go's
 * `crypto/x509/root_linux.go` searches, plus macOS's `/etc/ssl/cert.pem`).
 */
export const OS_BUNDLE_PATHS: readonly string[] = Object.freeze([
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Gentoo, Arch
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL 6
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/pki/tls/cacert.pem', // OpenELEC
  '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem', // CentOS, RHEL 7+
  '/etc/ssl/cert.pem', // Alpine, macOS
]);

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate PEM block in `text`, in order (anything between blocks — comments, labels — is dropped). */
export function pemBlocks(text: string): string[] {
  return text.match(PEM_BLOCK) ?? [];
}

/** The first OS bundle that exists and holds at least one certificate; undefined when none does. */
export async function findOsBundle(
  paths: readonly string[] = OS_BUNDLE_PATHS,
): Promise<{ readonly path: string; readonly pems: readonly string[] } | undefined> {
  for (const path of paths) {
    const text = await fs.readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const pems = pemBlocks(text);
    if (pems.length > 0) return { path, pems };
  }
  return undefined;
}

/** The DER bytes of a PEM certificate as a hex key, or undefined when it does not parse (it is then skipped). */
function derKey(pem: string): string | undefined {
  try {
    return new X509Certificate(pem).raw.toString('hex');
  } catch {
    return undefined;
  }
}

/**
 * Merge `groups` in order into one PEM text, each certificate once (by DER, so the same root written with other
 * line breaks is still one). Unparseable blocks are dropped: a tool given a bundle with a bad block may reject it all.
 */
export function mergeBundle(groups: ReadonlyArray<readonly string[]>): { text: string; count: number } {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const group of groups) {
    for (const pem of group) {
      const key = derKey(pem);
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      out.push(`${pem.trim()}\n`);
    }
  }
  return { text: out.join(''), count: out.length };
}

/** What a bundle was built from, for the command's stderr summary. */
export interface BuiltBundle {
  readonly text: string;
  readonly count: number;
  /** The OS bundle used, if one was found. */
  readonly osBundle: string | undefined;
}

/** Build the bundle: Node's roots, the OS bundle (first of `osPaths` found), then `caPem`. */
export async function buildTrustBundle(caPem: string, osPaths: readonly string[]): Promise<BuiltBundle> {
  const os = await findOsBundle(osPaths);
  const merged = mergeBundle([rootCertificates, os?.pems ?? [], pemBlocks(caPem)]);
  return { ...merged, osBundle: os?.path };
}

/** Write `text` to `path` atomically (temp file in the same directory, then rename), mode 0644: it is public. */
export async function writeBundleAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.bundle.tmp`);
  try {
    await fs.writeFile(tmp, text, { mode: 0o644 });
    // writeFile's mode is masked by the umask; the bundle must be readable by every workload.
    await fs.chmod(tmp, 0o644);
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
