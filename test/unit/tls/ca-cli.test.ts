import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caExport, caPath, caRegenerate } from '../../../src/cli/ca.js';
import type { CliIo } from '../../../src/cli/io.js';
import { ExitCode, StartupError } from '../../../src/exit-codes.js';
import { loadCa } from '../../../src/tls/ca-store.js';

interface Captured {
  io: CliIo;
  out: () => Buffer;
  err: () => string;
}

function capture(isTTY = false): Captured {
  const stdout = Object.assign(new PassThrough(), { isTTY });
  const stderr = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => outChunks.push(c));
  stderr.on('data', (c: Buffer) => errChunks.push(c));
  return {
    io: { stdout, stderr },
    out: () => Buffer.concat(outChunks),
    err: () => Buffer.concat(errChunks).toString(),
  };
}

async function rejection(p: Promise<unknown>): Promise<StartupError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StartupError);
  return err as StartupError;
}

let root: string;
let caDir: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'clef-ca-cli-'));
  caDir = join(root, 'ca');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('ca commands (in-process)', () => {
  it('caPath prints the directory and a newline', () => {
    const c = capture();
    caPath('/some/dir', c.io);
    expect(c.out().toString()).toBe('/some/dir\n');
  });

  it('caExport creates the CA on first use and writes pem, der and der-base64 of the same certificate', async () => {
    const pem = capture();
    await caExport({ caDir, format: 'pem' }, pem.io);
    const onDisk = await readFile(join(caDir, 'ca.crt'));
    expect(pem.out().equals(onDisk)).toBe(true);
    const der = capture();
    await caExport({ caDir, format: 'der' }, der.io);
    const b64 = capture();
    await caExport({ caDir, format: 'der-base64' }, b64.io);
    const text = b64.out().toString();
    expect(text).toMatch(/^[A-Za-z0-9+/]+=*\n$/);
    const fps = [pem.out(), der.out(), Buffer.from(text.trim(), 'base64')].map(
      (b) => new X509Certificate(b).fingerprint256,
    );
    expect(new Set(fps).size).toBe(1);
    expect(pem.out().toString()).not.toContain('PRIVATE KEY');
  });

  it('refuses DER to a terminal without --out (exit 2), and creates nothing', async () => {
    const tty = capture(true);
    const err = await rejection(caExport({ caDir, format: 'der' }, tty.io));
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.message).toBe(
      'ca export: refusing to write binary DER to a terminal; use --out or --format der-base64',
    );
    expect(tty.out().length).toBe(0);
    await expect(stat(caDir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes DER to --out even when stdout is a terminal', async () => {
    const tty = capture(true);
    const out = join(root, 'ca.der');
    await caExport({ caDir, format: 'der', out }, tty.io);
    expect(tty.out().length).toBe(0);
    const ca = await loadCa(caDir);
    expect((await readFile(out)).equals(ca.cert.raw)).toBe(true);
  });

  it('an unwritable --out is exit 2', async () => {
    const err = await rejection(
      caExport({ caDir, format: 'pem', out: join(root, 'missing', 'x.pem') }, capture().io),
    );
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.message).toContain('cannot write');
  });

  it('caRegenerate without confirm is exit 2 and changes nothing', async () => {
    await caExport({ caDir, format: 'pem' }, capture().io);
    const before = await readFile(join(caDir, 'ca.crt'), 'utf8');
    const c = capture();
    const err = await rejection(caRegenerate({ caDir, confirm: false }, c.io));
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.message).toBe(
      'ca regenerate: refusing without --confirm: this replaces the CA every workload trusts',
    );
    expect(await readFile(join(caDir, 'ca.crt'), 'utf8')).toBe(before);
    expect(c.out().length).toBe(0);
  });

  it('caRegenerate with confirm replaces the CA and prints its fingerprint', async () => {
    await caExport({ caDir, format: 'pem' }, capture().io);
    const before = await loadCa(caDir);
    const c = capture();
    await caRegenerate({ caDir, confirm: true }, c.io);
    const after = await loadCa(caDir);
    expect(after.fingerprint256).not.toBe(before.fingerprint256);
    expect(c.out().toString()).toBe(`CA directory: ${caDir}\nSHA-256 fingerprint: ${after.fingerprint256}\n`);
    expect((await readdir(caDir)).sort()).toEqual(['ca.crt', 'ca.key']);
  });
});
