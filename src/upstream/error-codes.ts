/**
 * One table that turns a failure on the way upstream into its SPEC §6 code: certificate verification failures
 * are `upstream_tls_error`, everything else (refused, reset, timeout, handshake alert, protocol error) is
 * `upstream_error`. Errors that already carry a code (a {@link ProxyError}) keep it.
 */
import { ProxyError, type ProxyErrorCode } from '../errors.js';

/**
 * The `err.code` values Node gives a client TLS socket whose peer certificate failed verification: OpenSSL's
 * X509_V_ERR_* names (Node's `src/crypto/crypto_common.cc`, `CASE_X509_ERR`) plus Node's own host-name checks
 * (`tls.checkServerIdentity`). OUT_OF_MEM is in OpenSSL's list but says nothing about the certificate, so it
 * stays an `upstream_error`.
 */
export const TLS_VERIFY_ERROR_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECRYPT_CRL_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CRL_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CRL_NOT_YET_VALID',
  'CRL_HAS_EXPIRED',
  'ERROR_IN_CERT_NOT_BEFORE_FIELD',
  'ERROR_IN_CERT_NOT_AFTER_FIELD',
  'ERROR_IN_CRL_LAST_UPDATE_FIELD',
  'ERROR_IN_CRL_NEXT_UPDATE_FIELD',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_CHAIN_TOO_LONG',
  'CERT_REVOKED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

/** The two codes a failed upstream dial can have (proxy-chain failures have their own, see connect-via-proxy). */
export type UpstreamDialCode = Extract<ProxyErrorCode, 'upstream_error' | 'upstream_tls_error'>;

function errnoCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Classify any error seen while dialling or talking to the upstream. A {@link ProxyError} keeps its code, so a
 * chain-proxy refusal (`upstream_proxy_*`) surfacing through an `http.request` stays what it is.
 */
export function classifyUpstreamError(err: unknown): ProxyErrorCode {
  if (err instanceof ProxyError) return err.code;
  const code = errnoCode(err);
  return code !== undefined && TLS_VERIFY_ERROR_CODES.has(code) ? 'upstream_tls_error' : 'upstream_error';
}

/**
 * Wrap a raw socket/TLS error as a {@link ProxyError} with the classified code, keeping the original as `cause`
 * for the operational log. The message is fixed text plus the errno code only: a TLS error message can quote
 * certificate fields, never a secret, but keeping it short keeps the log predictable.
 */
export function toUpstreamError(err: unknown, what = 'upstream connection failed'): ProxyError {
  if (err instanceof ProxyError) return err;
  const code = classifyUpstreamError(err);
  const errno = errnoCode(err);
  return new ProxyError(code, errno === undefined ? what : `${what} (${errno})`, { cause: err });
}
