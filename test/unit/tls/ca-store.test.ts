import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, StartupError } from '../../../src/exit-codes.js';
import { generateCa } from '../../../src/tls/ca-generate.js';
import { loadCa, loadOrCreateCa, regenerateCa } from '../../../src/tls/ca-store.js';
import {
  BasicConstraintsExtension,
  pkcs8ToPem,
  webcrypto,
  X509CertificateGenerator,
} from '../../../src/tls/x509.js';

const posix = process.platform !== 'win32';
const DAY = 24 * 60 * 60 * 1000;
const FIXTURES = join(import.meta.dirname, '../../../fixtures/certs');
let root: string;
let dir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'clef-ca-store-'));
  dir = join(root, 'nested', 'ca');
});
afterEach(async () => {
  await chmod(root, 0o700).catch(() => undefined);
  await rm(root, { recursive: true, force: true });
});

async function snapshot(d: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of (await readdir(d)).sort()) out[name] = await readFile(join(d, name), 'utf8');
  return out;
}

async function expectCaFailure(p: Promise<unknown>, fragment: string): Promise<StartupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StartupError);
  const se = err as StartupError;
  expect(se.code).toBe(ExitCode.CaFailure);
  expect(se.message).toContain(fragment);
  return se;
}

async function placePair(certPem: string, keyPem: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'ca.crt'), certPem);
  await writeFile(join(dir, 'ca.key'), keyPem, { mode: 0o600 });
}

describe('loadOrCreateCa', () => {
  it('creates dir 0700, ca.crt 0644, ca.key 0600 and a matching pair', async () => {
    const ca = await loadOrCreateCa(dir, { hostname: 'box' });
    expect((await readdir(dir)).sort()).toEqual(['ca.crt', 'ca.key']);
    if (posix) {
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      expect((await stat(join(dir, 'ca.crt'))).mode & 0o777).toBe(0o644);
      expect((await stat(join(dir, 'ca.key'))).mode & 0o777).toBe(0o600);
    }
    const onDisk = new X509Certificate(await readFile(join(dir, 'ca.crt')));
    expect(onDisk.fingerprint256).toBe(ca.fingerprint256);
    expect(onDisk.subject).toBe('CN=Clef Proxy CA (box)');
    expect(await readFile(join(dir, 'ca.key'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(ca.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('reloads an existing pair with the same fingerprint, leaving the files byte-identical', async () => {
    const first = await loadOrCreateCa(dir);
    const before = await snapshot(dir);
    const again = await loadOrCreateCa(dir);
    const viaLoad = await loadCa(dir);
    expect(again.fingerprint256).toBe(first.fingerprint256);
    expect(viaLoad.fingerprint256).toBe(first.fingerprint256);
    expect(again.certPem).toBe(first.certPem);
    expect(await snapshot(dir)).toEqual(before);
  });

  const other = generateCa({ hostname: 'other' });
  it.each([
    [
      'corrupt cert',
      async (c: string, k: string) => placePair(`${c.slice(0, 80)}garbage\n`, k),
      'ca.crt is not a valid',
    ],
    ['cert not PEM', async (_c: string, k: string) => placePair('hello', k), 'ca.crt is not a valid'],
    [
      'corrupt key',
      async (c: string, _k: string) =>
        placePair(c, '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
      'ca.key is not a valid',
    ],
    ['mismatched pair', async (c: string) => placePair(c, (await other).keyPem), 'does not match'],
    [
      'only ca.crt',
      async (c: string) => {
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'ca.crt'), c);
      },
      'ca.key is missing',
    ],
    [
      'only ca.key',
      async (_c: string, k: string) => {
        await mkdir(dir, { recursive: true });
        await writeFile(join(dir, 'ca.key'), k);
      },
      'ca.crt is missing',
    ],
    [
      'unreadable ca.crt (a directory)',
      async (_c: string, k: string) => {
        await mkdir(join(dir, 'ca.crt'), { recursive: true });
        await writeFile(join(dir, 'ca.key'), k);
      },
      'cannot read ca.crt (EISDIR)',
    ],
  ])('%s → exit 5, files untouched', async (_name, arrange, fragment) => {
    const pems = await generateCa({ hostname: 'box' });
    await arrange(pems.certPem, pems.keyPem);
    const before = await snapshot(dir).catch(() => undefined);
    const err = await expectCaFailure(loadOrCreateCa(dir), fragment);
    expect(err.message).toContain(dir);
    expect(err.message.startsWith('CA load failed: ')).toBe(true);
    if (before) expect(await snapshot(dir)).toEqual(before);
    await expectCaFailure(loadCa(dir), fragment);
  });

  it('refuses an expired CA', async () => {
    const pems = await generateCa({ now: new Date(Date.now() - 11 * 365 * DAY) });
    await placePair(pems.certPem, pems.keyPem);
    await expectCaFailure(loadOrCreateCa(dir), 'ca.crt expired on');
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(pems.certPem);
  });

  it('refuses a certificate that is not a CA (the upstream test leaf with its own key)', async () => {
    const cert = await readFile(join(FIXTURES, 'upstream.crt'), 'utf8');
    await placePair(cert, await readFile(join(FIXTURES, 'upstream.key'), 'utf8'));
    await expectCaFailure(loadOrCreateCa(dir), 'ca.crt is not a CA certificate');
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(cert);
  });

  it('refuses a CA whose key is not ECDSA P-256', async () => {
    const keys = await webcrypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    );
    const cert = await X509CertificateGenerator.createSelfSigned({
      name: 'CN=rsa',
      keys,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
      extensions: [new BasicConstraintsExtension(true, 0, true)],
    });
    await placePair(
      cert.toString('pem'),
      pkcs8ToPem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
    );
    await expectCaFailure(loadOrCreateCa(dir), 'ca.key is not an ECDSA P-256 key');
  });

  it('accepts an operator-supplied P-256 CA (the test upstream CA)', async () => {
    const cert = await readFile(join(FIXTURES, 'ca.crt'), 'utf8');
    await placePair(cert, await readFile(join(FIXTURES, 'ca.key'), 'utf8'));
    const ca = await loadOrCreateCa(dir);
    expect(ca.fingerprint256).toBe(new X509Certificate(cert).fingerprint256);
  });

  it('cannot create under a regular file → exit 5, nothing created', async () => {
    const file = join(root, 'plain-file');
    await writeFile(file, 'x');
    const err = await expectCaFailure(loadOrCreateCa(join(file, 'ca')), 'cannot create the CA directory');
    expect(err.message.startsWith('CA create failed: ')).toBe(true);
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  it.skipIf(!posix || process.getuid?.() === 0)('cannot create in a read-only parent → exit 5', async () => {
    await chmod(root, 0o500);
    await expectCaFailure(loadOrCreateCa(join(root, 'ca')), 'cannot create the CA directory (EACCES)');
  });

  it("concurrent first loads agree on one pair (the losers of the create race use the winner's)", async () => {
    const all = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateCa(dir)));
    expect(new Set(all.map((c) => c.fingerprint256)).size).toBe(1);
    expect((await readdir(dir)).sort()).toEqual(['ca.crt', 'ca.key']);
    expect((await loadCa(dir)).fingerprint256).toBe(all[0]?.fingerprint256);
  });

  it('loadCa never creates', async () => {
    await expectCaFailure(loadCa(dir), 'no CA found');
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('regenerateCa', () => {
  it('replaces the pair with a new matching one and leaves no temp files', async () => {
    const old = await loadOrCreateCa(dir);
    const fresh = await regenerateCa(dir);
    expect(fresh.fingerprint256).not.toBe(old.fingerprint256);
    expect((await readdir(dir)).sort()).toEqual(['ca.crt', 'ca.key']);
    expect((await loadCa(dir)).fingerprint256).toBe(fresh.fingerprint256);
    if (posix) expect((await stat(join(dir, 'ca.key'))).mode & 0o777).toBe(0o600);
  });

  it('creates the directory when it does not exist yet', async () => {
    const fresh = await regenerateCa(dir);
    expect((await loadCa(dir)).fingerprint256).toBe(fresh.fingerprint256);
  });

  it('replaces a corrupt pair (that is what the command is for)', async () => {
    await placePair('junk', 'junk');
    const fresh = await regenerateCa(dir);
    expect((await loadCa(dir)).fingerprint256).toBe(fresh.fingerprint256);
  });

  it('a failure before the renames leaves the old pair intact and matching, and no temp files', async () => {
    const old = await loadOrCreateCa(dir);
    const before = await snapshot(dir);
    let ran = false;
    const failing = regenerateCa(
      dir,
      {},
      {
        beforeRename: async () => {
          ran = true;
          // Both temp files exist at this point, written in the CA directory itself.
          expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toHaveLength(2);
          throw new Error('injected crash');
        },
      },
    );
    await expectCaFailure(failing, 'CA regenerate failed');
    expect(ran).toBe(true);
    expect(await snapshot(dir)).toEqual(before);
    expect((await loadCa(dir)).fingerprint256).toBe(old.fingerprint256);
  });

  it('a crash between the renames is rolled forward by the next load, never served mismatched', async () => {
    const old = await loadOrCreateCa(dir);
    await expectCaFailure(
      regenerateCa(
        dir,
        {},
        {
          betweenRenames: () => {
            throw new Error('injected crash');
          },
        },
      ),
      'CA regenerate failed',
    );
    // The crash state: new key, old cert, and the new cert waiting in a temp file.
    const names = (await readdir(dir)).sort();
    expect(names).toHaveLength(3);
    expect(names.filter((n) => n.startsWith('ca.crt.tmp-'))).toHaveLength(1);
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(old.certPem);
    const recovered = await loadCa(dir);
    expect(recovered.fingerprint256).not.toBe(old.fingerprint256);
    expect((await readdir(dir)).sort()).toEqual(['ca.crt', 'ca.key']);
    const cert = new X509Certificate(await readFile(join(dir, 'ca.crt')));
    expect(cert.fingerprint256).toBe(recovered.fingerprint256);
    expect((await loadOrCreateCa(dir)).fingerprint256).toBe(recovered.fingerprint256);
  });

  it('a mismatch with no matching temp certificate is refused, not repaired', async () => {
    const a = await generateCa();
    const b = await generateCa();
    await placePair(a.certPem, b.keyPem);
    // A temp cert that does not match the key either must not be used.
    await writeFile(join(dir, 'ca.crt.tmp-deadbeef'), a.certPem);
    await expectCaFailure(loadCa(dir), 'does not match');
    expect(await readFile(join(dir, 'ca.crt'), 'utf8')).toBe(a.certPem);
  });
});
