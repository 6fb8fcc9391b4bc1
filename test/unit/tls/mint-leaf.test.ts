import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateCa } from '../../../src/tls/ca-generate.js';
import { type CaMaterial, validateCaPair } from '../../../src/tls/ca-validate.js';
import { createLeafKey, LEAF_VALIDITY_MS, mintLeaf } from '../../../src/tls/mint-leaf.js';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  X509Certificate as PeculiarCertificate,
  SubjectKeyIdentifierExtension,
} from '../../../src/tls/x509.js';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

async function caFrom(opts: Parameters<typeof generateCa>[0] = {}): Promise<CaMaterial> {
  const pems = await generateCa(opts);
  const check = await validateCaPair(pems.certPem, pems.keyPem, opts.now);
  if (!check.ok) throw new Error(check.why);
  return check.ca;
}

describe('mintLeaf (SPEC §4)', async () => {
  const ca = await caFrom({ hostname: 'test' });
  const leafKey = await createLeafKey();
  const now = new Date();

  it.each([
    ['example.com', 'name', 'DNS:example.com', (c: X509Certificate) => c.checkHost('example.com')],
    ['127.0.0.1', 'ipv4', 'IP Address:127.0.0.1', (c: X509Certificate) => c.checkIP('127.0.0.1')],
    ['::1', 'ipv6', 'IP Address:0:0:0:0:0:0:0:1', (c: X509Certificate) => c.checkIP('::1')],
  ] as const)('%s (%s): signed by the CA, SAN %s', async (host, kind, san, matches) => {
    const minted = await mintLeaf(ca, leafKey, host, kind, now);
    const leaf = new X509Certificate(minted.certPem);
    expect(leaf.verify(ca.cert.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca.cert)).toBe(true);
    expect(leaf.subjectAltName).toBe(san);
    expect(matches(leaf)).toBeTruthy();
    expect(leaf.subject).toBe(`CN=${host}`);
    expect(leaf.issuer).toBe(ca.cert.subject);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkPrivateKey(createPrivateKey(leafKey.keyPem))).toBe(true);
  });

  it('a name SAN does not match other hosts', async () => {
    const leaf = new X509Certificate((await mintLeaf(ca, leafKey, 'api.example.com', 'name', now)).certPem);
    expect(leaf.checkHost('example.com')).toBeUndefined();
    expect(leaf.checkHost('evil.example.com')).toBeUndefined();
  });

  it('carries serverAuth, digitalSignature (critical), CA:false and an AKI equal to the CA SKI', async () => {
    const leaf = new PeculiarCertificate((await mintLeaf(ca, leafKey, 'example.com', 'name', now)).certPem);
    const caSki = new PeculiarCertificate(ca.certPem).getExtension(SubjectKeyIdentifierExtension)?.keyId;
    expect(leaf.getExtension(ExtendedKeyUsageExtension)?.usages).toEqual([ExtendedKeyUsage.serverAuth]);
    const ku = leaf.getExtension(KeyUsagesExtension);
    expect(ku?.usages).toBe(KeyUsageFlags.digitalSignature);
    expect(ku?.critical).toBe(true);
    expect(leaf.getExtension(BasicConstraintsExtension)?.ca).toBe(false);
    expect(caSki).toMatch(/^[0-9a-f]{40}$/);
    expect(leaf.getExtension(AuthorityKeyIdentifierExtension)?.keyId).toBe(caSki);
    expect(new Uint8Array(leaf.issuerName.toArrayBuffer())).toEqual(
      new Uint8Array(new PeculiarCertificate(ca.certPem).subjectName.toArrayBuffer()),
    );
  });

  it('is valid from 1 h ago to 7 days on', async () => {
    const minted = await mintLeaf(ca, leafKey, 'example.com', 'name', now);
    const leaf = new PeculiarCertificate(minted.certPem);
    // X.509 times have whole seconds.
    const sec = (ms: number) => Math.floor(ms / 1000) * 1000;
    expect(leaf.notBefore.getTime()).toBe(sec(now.getTime() - HOUR));
    expect(leaf.notAfter.getTime()).toBe(sec(now.getTime() + LEAF_VALIDITY_MS));
    expect(minted.notAfter.getTime()).toBe(now.getTime() + 7 * DAY);
  });

  it('never outlives a CA that expires in 2 days', async () => {
    const shortCa = await caFrom({ validityYears: 0, extraValidityMs: 2 * DAY, now });
    const minted = await mintLeaf(shortCa, leafKey, 'example.com', 'name', now);
    const leaf = new PeculiarCertificate(minted.certPem);
    expect(minted.notAfter.getTime()).toBe(shortCa.notAfter.getTime());
    expect(leaf.notAfter.getTime()).toBe(shortCa.notAfter.getTime());
    expect(leaf.notAfter.getTime()).toBeLessThan(now.getTime() + 3 * DAY);
  });

  it('refuses to mint under an expired CA', async () => {
    const shortCa = await caFrom({ validityYears: 0, extraValidityMs: DAY, now });
    await expect(
      mintLeaf(shortCa, leafKey, 'example.com', 'name', new Date(now.getTime() + 2 * DAY)),
    ).rejects.toThrow('the CA has expired');
  });

  it('truncates the CN of a long host to 64 characters but keeps the full SAN', async () => {
    const host = `${'a'.repeat(60)}.${'b'.repeat(20)}.example.com`;
    const leaf = new X509Certificate((await mintLeaf(ca, leafKey, host, 'name', now)).certPem);
    expect(leaf.subject).toBe(`CN=${host.slice(0, 64)}`);
    expect(leaf.subjectAltName).toBe(`DNS:${host}`);
  });

  it('uses a fresh positive 128-bit serial per leaf', async () => {
    const serials = await Promise.all(
      [1, 2, 3].map(
        async () => new X509Certificate((await mintLeaf(ca, leafKey, 'x.test', 'name', now)).certPem),
      ),
    );
    const values = serials.map((c) => BigInt(`0x${c.serialNumber}`));
    for (const v of values) expect(v > 0n && v < 1n << 128n).toBe(true);
    expect(new Set(values).size).toBe(3);
  });

  it('each minter instance has its own key', async () => {
    const other = await createLeafKey();
    expect(other.keyPem).not.toBe(leafKey.keyPem);
    expect(leafKey.keyPem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
  });
});
