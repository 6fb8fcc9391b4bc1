import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../src/errors.js';
import { classifyUpstreamError, toUpstreamError } from '../../../src/upstream/error-codes.js';

const withCode = (code: string) => Object.assign(new Error('x'), { code });

describe('classifyUpstreamError', () => {
  it.each([
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'upstream_tls_error'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'upstream_tls_error'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'upstream_tls_error'],
    ['CERT_HAS_EXPIRED', 'upstream_tls_error'],
    ['CERT_NOT_YET_VALID', 'upstream_tls_error'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'upstream_tls_error'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'upstream_tls_error'],
    ['HOSTNAME_MISMATCH', 'upstream_tls_error'],
    ['INVALID_PURPOSE', 'upstream_tls_error'],
    ['ECONNREFUSED', 'upstream_error'],
    ['ECONNRESET', 'upstream_error'],
    ['ETIMEDOUT', 'upstream_error'],
    ['ENOTFOUND', 'upstream_error'],
    ['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'upstream_error'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'upstream_error'],
    ['OUT_OF_MEM', 'upstream_error'],
    ['EPROTO', 'upstream_error'],
  ])('%s → %s', (code, expected) => {
    expect(classifyUpstreamError(withCode(code))).toBe(expected);
  });

  it.each([
    [new Error('no code'), 'upstream_error'],
    ['a string', 'upstream_error'],
    [null, 'upstream_error'],
    [{ code: 42 }, 'upstream_error'],
    [new ProxyError('upstream_proxy_auth_failed'), 'upstream_proxy_auth_failed'],
    [new ProxyError('upstream_proxy_error'), 'upstream_proxy_error'],
  ])('%s → %s', (err, expected) => {
    expect(classifyUpstreamError(err)).toBe(expected);
  });
});

describe('toUpstreamError', () => {
  it('wraps with the classified code, keeps the cause and names only the errno', () => {
    const cause = Object.assign(new Error('certificate has expired: secret-ish detail'), {
      code: 'CERT_HAS_EXPIRED',
    });
    const err = toUpstreamError(cause, 'dial failed');
    expect(err).toBeInstanceOf(ProxyError);
    expect(err.code).toBe('upstream_tls_error');
    expect(err.cause).toBe(cause);
    expect(err.message).toBe('dial failed (CERT_HAS_EXPIRED)');
  });

  it('passes a ProxyError through unchanged', () => {
    const original = new ProxyError('upstream_proxy_error');
    expect(toUpstreamError(original)).toBe(original);
  });

  it('uses the default text when the error has no code', () => {
    const err = toUpstreamError(new Error('boom'));
    expect(err.code).toBe('upstream_error');
    expect(err.message).toBe('upstream connection failed');
  });
});
