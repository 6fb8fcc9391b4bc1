/**
 * Invariant: the CA key never leaves the CA directory and is 0600 (SPEC §4 "Directory mode 0700, key 0600",
 * §1 `ca export` "writes the CA certificate (never the key)"). In-process: the real command functions (`run()` from
 * src/cli/program.ts) and `startProxy` on real temp directories. The spawned-CLI version is in
 * serve-process.test.ts. Key material is searched as PEM text, PEM lines, DER bytes and the raw private scalar.
 */
import { createPrivateKey } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStaticSource } from '../../src/agent/static-source.js';
import { run } from '../../src/cli/program.js';
import { readEnv } from '../../src/config/env.js';
import { startProxy } from '../../src/proxy.js';

const POSIX = process.platform !== 'win32';

let root: string;
let caDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'clef-sec-ca-'));
  caDir = join(root, 'ca');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Run a CLI command in-process; resolves with its exit code and everything it wrote. */
async function cli(args: string[]): Promise<{ code: number; out: Buffer }> {
  const chunks: Buffer[] = [];
  const collect = (s: PassThrough) => s.on('data', (c: Buffer) => chunks.push(Buffer.from(c)));
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  collect(stdout);
  collect(stderr);
  const env = readEnv({ CLEF_PROXY_CA_DIR: caDir, HOME: root }, 'linux');
  const code = await run(args, { stdout, stderr }, env);
  return { code, out: Buffer.concat(chunks) };
}

/**
 * Every form the key could leak in: the PEM label, the DER, the 32-byte private scalar (raw, base64, base64url,
 * hex) and the PEM's first line (which holds the start of the scalar). Later PEM lines are left out on purpose:
 * PKCS#8 carries the public key too, which the certificate also holds, so those lines can legitimately appear.
 */
function keyNeedles(keyPem: string): Buffer[] {
  const body = keyPem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  const der = Buffer.from(body.join(''), 'base64');
  const d = createPrivateKey(keyPem).export({ format: 'jwk' }).d;
  if (d === undefined) throw new Error('not an EC private key');
  const scalar = Buffer.from(d, 'base64url');
  expect(der.includes(scalar)).toBe(true);
  return [
    Buffer.from('PRIVATE KEY'),
    der,
    scalar,
    ...['base64', 'base64url', 'hex'].map((enc) => Buffer.from(scalar.toString(enc as BufferEncoding))),
    Buffer.from(body[0] ?? 'missing'),
  ];
}

function expectNoKey(output: Buffer, keyPem: string): void {
  for (const needle of keyNeedles(keyPem))
    expect(output.includes(needle), needle.toString('latin1')).toBe(false);
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

async function expectKeyLockedDown(): Promise<void> {
  expect((await readdir(caDir)).sort()).toEqual(['ca.crt', 'ca.key']);
  if (!POSIX) return;
  expect(await mode(join(caDir, 'ca.key'))).toBe(0o600);
  expect(await mode(caDir)).toBe(0o700);
}

describe('the CA key never leaves the CA directory and is 0600', () => {
  it('after startProxy creates the CA (what serve does): key 0600, directory 0700, not in caCertPem', async () => {
    const proxy = await startProxy({
      ca: { dir: caDir },
      source: createStaticSource({ services: [], secrets: {} }),
      workloadToken: 'x',
    });
    try {
      await expectKeyLockedDown();
      expectNoKey(Buffer.from(proxy.caCertPem), await readFile(join(caDir, 'ca.key'), 'utf8'));
    } finally {
      await proxy.close();
    }
  });

  it('ca export in every format, to stdout and to --out: certificate only, key untouched and still 0600', async () => {
    expect((await cli(['ca', 'export'])).code).toBe(0);
    const keyPem = await readFile(join(caDir, 'ca.key'), 'utf8');
    for (const format of ['pem', 'der', 'der-base64']) {
      const toStdout = await cli(['ca', 'export', '--format', format]);
      expect(toStdout.code).toBe(0);
      expect(toStdout.out.length).toBeGreaterThan(100);
      expectNoKey(toStdout.out, keyPem);
      const file = join(root, `exported.${format}`);
      const toFile = await cli(['ca', 'export', '--format', format, '--out', file]);
      expect(toFile.code).toBe(0);
      expectNoKey(await readFile(file), keyPem);
      expectNoKey(toFile.out, keyPem);
    }
    expect(await readFile(join(caDir, 'ca.key'), 'utf8')).toBe(keyPem);
    await expectKeyLockedDown();
  });

  it('ca regenerate --confirm: the new key is 0600, no temp file is left, neither key is printed', async () => {
    expect((await cli(['ca', 'export'])).code).toBe(0);
    const oldKey = await readFile(join(caDir, 'ca.key'), 'utf8');
    const r = await cli(['ca', 'regenerate', '--confirm']);
    expect(r.code).toBe(0);
    const newKey = await readFile(join(caDir, 'ca.key'), 'utf8');
    expect(newKey).not.toBe(oldKey);
    expectNoKey(r.out, oldKey);
    expectNoKey(r.out, newKey);
    await expectKeyLockedDown();
  });

  it('ca path prints the directory only', async () => {
    expect((await cli(['ca', 'export'])).code).toBe(0);
    const r = await cli(['ca', 'path']);
    expect(r.out.toString()).toBe(`${caDir}\n`);
  });

  // Regression: `mkdir(dir, { recursive: true, mode: 0o700 })` leaves an existing directory's mode alone, so a CA
  // created in a pre-made 0755 directory used to live in a 0755 directory (SPEC §4: 0700).
  (POSIX ? it : it.skip)(
    'a CA created in an existing 0755 directory ends up in a 0700 directory',
    async () => {
      await mkdir(caDir, { mode: 0o755 });
      await chmod(caDir, 0o755);
      expect((await cli(['ca', 'export'])).code).toBe(0);
      expect(await mode(join(caDir, 'ca.key'))).toBe(0o600);
      expect(await mode(caDir)).toBe(0o700);
    },
  );

  // Regression: an existing ca.key with a loose mode (0644, e.g. restored from a backup) used to be loaded and left
  // group/world readable. SPEC §4 requires 0600: it is narrowed on load.
  (POSIX ? it : it.skip)('a loose ca.key (0644) is 0600 after the next export', async () => {
    expect((await cli(['ca', 'export'])).code).toBe(0);
    await chmod(join(caDir, 'ca.key'), 0o644);
    const r = await cli(['ca', 'export']);
    expect(r.code).not.toBe(1);
    expect(await mode(join(caDir, 'ca.key'))).toBe(0o600);
  });
});
