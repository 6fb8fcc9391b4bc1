import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cliBuild } from '../helpers/serve.js';

let BIN: string;

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run the real CLI with a clean environment: only PATH, HOME and what the test sets. */
function cli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: root, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }),
    );
  });
}

let root: string;
let caDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  // The CLI built once for this run by test/global-setup.ts.
  BIN = (await cliBuild()).bin;
});

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'clef-ca-e2e-'));
  caDir = join(root, 'ca-dir');
  env = { CLEF_PROXY_CA_DIR: caDir };
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('clef-proxy ca (SPEC §1, §4)', () => {
  it('ca path prints the directory in use, one line', async () => {
    const r = await cli(['ca', 'path'], env);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${caDir}\n`);
  });

  it("ca path --config uses the file's ca_dir when CLEF_PROXY_CA_DIR is unset", async () => {
    const cfg = join(root, 'config.json');
    const fromConfig = join(root, 'cfg-ca');
    await writeFile(cfg, JSON.stringify({ listen: '127.0.0.1:0', ca_dir: fromConfig }));
    const r = await cli(['ca', 'path', '--config', cfg], {});
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe(`${fromConfig}\n`);
  });

  it('ca export in pem, der, der-base64 and --out all give the same certificate', async () => {
    const pem = await cli(['ca', 'export'], env);
    expect(pem.code).toBe(0);
    expect(pem.stdout.equals(await readFile(join(caDir, 'ca.crt')))).toBe(true);
    expect(pem.stdout.toString()).not.toContain('PRIVATE KEY');
    // stdout is a pipe here, not a TTY, so raw DER is allowed.
    const der = await cli(['ca', 'export', '--format', 'der'], env);
    expect(der.code).toBe(0);
    const b64 = await cli(['ca', 'export', '--format', 'der-base64'], env);
    expect(b64.code).toBe(0);
    expect(b64.stdout.toString()).toMatch(/^[A-Za-z0-9+/]+=*\n$/);
    const outFile = join(root, 'exported.pem');
    const out = await cli(['ca', 'export', '--out', outFile], env);
    expect(out.code).toBe(0);
    expect(out.stdout.length).toBe(0);
    const certs = [
      pem.stdout,
      der.stdout,
      Buffer.from(b64.stdout.toString().trim(), 'base64'),
      await readFile(outFile),
    ];
    const fingerprints = certs.map((b) => new X509Certificate(b).fingerprint256);
    expect(new Set(fingerprints).size).toBe(1);
    expect(new X509Certificate(der.stdout).ca).toBe(true);
  });

  it('ca regenerate without --confirm exits 2 and changes nothing', async () => {
    expect((await cli(['ca', 'export'], env)).code).toBe(0);
    const before = await readFile(join(caDir, 'ca.crt'));
    const r = await cli(['ca', 'regenerate'], env);
    expect(r.code).toBe(2);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr.startsWith('clef-proxy: ')).toBe(true);
    expect(r.stderr).toContain('--confirm');
    expect((await readFile(join(caDir, 'ca.crt'))).equals(before)).toBe(true);
  });

  it('ca regenerate --confirm exits 0 and prints the new certificate fingerprint', async () => {
    expect((await cli(['ca', 'export'], env)).code).toBe(0);
    const old = new X509Certificate(await readFile(join(caDir, 'ca.crt'))).fingerprint256;
    const r = await cli(['ca', 'regenerate', '--confirm'], env);
    expect(r.code).toBe(0);
    const now = new X509Certificate(await readFile(join(caDir, 'ca.crt'))).fingerprint256;
    expect(now).not.toBe(old);
    expect(r.stdout.toString()).toContain(`SHA-256 fingerprint: ${now}\n`);
    expect((await readdir(caDir)).sort()).toEqual(['ca.crt', 'ca.key']);
  });

  it('a corrupt CA is exit 5 with one clef-proxy: line on stderr, and is left as it was', async () => {
    expect((await cli(['ca', 'export'], env)).code).toBe(0);
    await writeFile(join(caDir, 'ca.crt'), 'not a certificate\n');
    const r = await cli(['ca', 'export'], env);
    expect(r.code).toBe(5);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toBe(`clef-proxy: CA load failed: ca.crt is not a valid PEM certificate (${caDir})\n`);
    expect(await readFile(join(caDir, 'ca.crt'), 'utf8')).toBe('not a certificate\n');
  });
});
