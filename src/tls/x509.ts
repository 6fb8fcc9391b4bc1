/**
 * The one door to `@peculiar/x509` (tls/ca-*.ts, tls/mint-leaf.ts and their tests go through here).
 *
 * `@peculiar/x509` reads decorator metadata at import time, so `reflect-metadata` must be evaluated first; ESM
 * evaluates imports in order, which is why that import comes before the library's. The library signs through
 * WebCrypto: we hand it Node's own (`globalThis.crypto`, stable since Node 19), so no polyfill is needed.
 */
import 'reflect-metadata';
import type { webcrypto as wc } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export type { Extension, JsonGeneralName } from '@peculiar/x509';
export {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  PemConverter,
  PublicKey,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';

/** WebCrypto key type (Node's), re-exported so callers need no DOM lib. */
export type CryptoKey = wc.CryptoKey;

/** Node's WebCrypto, the provider every signature in the project goes through. */
export const webcrypto: wc.Crypto = globalThis.crypto;

/** SPEC §4: both the CA and the leaves use ECDSA on P-256. */
export const EC_P256: wc.EcKeyGenParams = Object.freeze({ name: 'ECDSA', namedCurve: 'P-256' });

/** Signatures are ECDSA with SHA-256 (ecdsa-with-SHA256), what every TLS client accepts for a P-256 key. */
export const ECDSA_SHA256: wc.EcdsaParams = Object.freeze({ name: 'ECDSA', hash: 'SHA-256' });

/**
 * A fresh 128-bit random serial as hex (SPEC §4). The library strips leading zero bytes and prefixes 0x00 when
 * the top bit is set, so the DER INTEGER is always positive and minimally encoded.
 */
export function randomSerialHex(): string {
  const bytes = new Uint8Array(16);
  webcrypto.getRandomValues(bytes);
  // An all-zero serial is forbidden (RFC 5280 §4.1.2.2); the odds are 2^-128, but the guard costs nothing.
  if (bytes.every((b) => b === 0)) bytes[15] = 1;
  return Buffer.from(bytes).toString('hex');
}

/** Encode a PKCS#8 private key as PEM (`-----BEGIN PRIVATE KEY-----`), newline-terminated. */
export function pkcs8ToPem(der: ArrayBuffer): string {
  return withNewline(x509.PemConverter.encode(der, 'PRIVATE KEY'));
}

/** PEM text from the library ends without a newline; files and stdout want one. */
export function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
