import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CN_MAX, caCommonName, generateCa } from '../../../src/tls/ca-generate.js';
import {
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  X509Certificate as PeculiarCertificate,
  SubjectKeyIdentifierExtension,
} from '../../../src/tls/x509.js';

describe('generateCa (SPEC §4)', async () => {
  const now = new Date('2026-11-29T07:00:00.000Z');
  const pems = await generateCa({ hostname: 'build-box', now });
  const cert = new X509Certificate(pems.certPem);
  const parsed = new PeculiarCertificate(pems.certPem);

  it('is a self-signed ECDSA P-256 CA whose key matches', () => {
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=Clef Proxy CA (build-box)');
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey(createPrivateKey(pems.keyPem))).toBe(true);
    expect(pems.keyPem.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
    expect(pems.certPem.endsWith('-----END CERTIFICATE-----\n')).toBe(true);
  });

  it('is valid from one hour before now for ten years', () => {
    expect(parsed.notBefore.toISOString()).toBe('2026-11-29T06:00:00.000Z');
    expect(parsed.notAfter.toISOString()).toBe('2036-11-29T07:00:00.000Z');
  });

  it('has basicConstraints CA:true pathlen 0 critical', () => {
    const bc = parsed.getExtension(BasicConstraintsExtension);
    expect(bc?.ca).toBe(true);
    expect(bc?.pathLength).toBe(0);
    expect(bc?.critical).toBe(true);
  });

  it('has keyUsage keyCertSign+cRLSign critical, nothing else', () => {
    const ku = parsed.getExtension(KeyUsagesExtension);
    expect(ku?.usages).toBe(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign);
    expect(ku?.critical).toBe(true);
  });

  it('has a subjectKeyIdentifier', () => {
    expect(parsed.getExtension(SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
  });

  it('has a positive serial of at most 128 bits, different each time', async () => {
    const other = new X509Certificate((await generateCa({ hostname: 'build-box', now })).certPem);
    for (const serial of [cert.serialNumber, other.serialNumber]) {
      const value = BigInt(`0x${serial}`);
      expect(value > 0n).toBe(true);
      expect(value < 1n << 128n).toBe(true);
    }
    expect(other.serialNumber).not.toBe(cert.serialNumber);
  });
});

describe('caCommonName', () => {
  it.each([
    ['box', 'Clef Proxy CA (box)'],
    ['a,b+c=d', 'Clef Proxy CA (a,b+c=d)'],
    ['x'.repeat(100), `Clef Proxy CA (${'x'.repeat(48)})`],
  ])('%s → %s', (host, cn) => {
    expect(caCommonName(host)).toBe(cn);
    expect(caCommonName(host).length).toBeLessThanOrEqual(CN_MAX);
  });

  it('a hostname with DN syntax characters stays one CN attribute', async () => {
    const cert = new PeculiarCertificate((await generateCa({ hostname: 'a,O=evil' })).certPem);
    expect(cert.subjectName.getField('CN')).toEqual(['Clef Proxy CA (a,O=evil)']);
    expect(cert.subjectName.getField('O')).toEqual([]);
  });
});
