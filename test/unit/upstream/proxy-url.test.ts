import { describe, expect, it } from 'vitest';
import { parseProxyUrl } from '../../../src/upstream/proxy-url.js';

const basic = (userpass: string) => `Basic ${Buffer.from(userpass, 'utf8').toString('base64')}`;

describe('parseProxyUrl', () => {
  it.each([
    {
      url: 'http://user:pass@proxy.corp:3128',
      protocol: 'http:',
      key: 'proxy.corp:3128',
      port: 3128,
      authorization: basic('user:pass'),
      redacted: 'http://proxy.corp:3128',
    },
    {
      url: 'http://us%65r:p%40ss@proxy.corp:3128/',
      protocol: 'http:',
      key: 'proxy.corp:3128',
      port: 3128,
      authorization: basic('user:p@ss'),
      redacted: 'http://proxy.corp:3128',
    },
    {
      url: 'http://proxy.corp',
      protocol: 'http:',
      key: 'proxy.corp:80',
      port: 80,
      authorization: undefined,
      redacted: 'http://proxy.corp:80',
    },
    {
      url: 'https://proxy.corp',
      protocol: 'https:',
      key: 'proxy.corp:443',
      port: 443,
      authorization: undefined,
      redacted: 'https://proxy.corp:443',
    },
    {
      url: 'https://PROXY.Corp.:8443',
      protocol: 'https:',
      key: 'proxy.corp:8443',
      port: 8443,
      authorization: undefined,
      redacted: 'https://proxy.corp:8443',
    },
    {
      url: 'http://only-user@10.0.0.1:3128',
      protocol: 'http:',
      key: '10.0.0.1:3128',
      port: 3128,
      authorization: basic('only-user:'),
      redacted: 'http://10.0.0.1:3128',
    },
    {
      url: 'http://u:%E2%82%AC%3A@[::1]:3128',
      protocol: 'http:',
      key: '[::1]:3128',
      port: 3128,
      authorization: basic('u:€:'),
      redacted: 'http://[::1]:3128',
    },
  ])('$url', ({ url, protocol, key, port, authorization, redacted }) => {
    const p = parseProxyUrl(url);
    expect(p.protocol).toBe(protocol);
    expect(p.host.key).toBe(key);
    expect(p.host.port).toBe(port);
    expect(p.authorization).toBe(authorization);
    expect(p.redacted).toBe(redacted);
    expect(Object.isFrozen(p)).toBe(true);
  });

  it('keeps an IPv6 host unbracketed in host and bracketed in key', () => {
    const p = parseProxyUrl('http://[::1]:3128');
    expect(p.host).toMatchObject({ host: '::1', kind: 'ipv6', port: 3128 });
  });

  it.each([
    'http://user:s3cretPW@proxy.corp:3128',
    'https://user:s3cretPW@proxy.corp',
    'http://user:s3cretPW@[::1]:3128/some/path',
  ])('redacted never contains the password: %s', (url) => {
    const p = parseProxyUrl(url);
    expect(p.redacted).not.toContain('s3cretPW');
    expect(p.redacted).not.toContain('user');
    expect(p.redacted).not.toContain('@');
  });

  it.each([
    { url: 'http://user:s3cretPW@proxy corp:3128', why: 'not a valid URL' },
    { url: 'user:s3cretPW@proxy.corp:3128', why: 'unsupported protocol' },
    { url: 'socks5://user:s3cretPW@proxy.corp:1080', why: 'unsupported protocol' },
    { url: 'http://user:s3cretPW@proxy.corp:99999', why: 'not a valid URL' },
    { url: 'http://user:s3cretPW%zz@proxy.corp:3128', why: 'malformed percent-encoding' },
    { url: 'http://user:s3cretPW@:3128', why: 'not a valid URL' },
  ])('throws a TypeError without the password for $url', ({ url, why }) => {
    let caught: unknown;
    try {
      parseProxyUrl(url);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TypeError);
    const err = caught as TypeError & { input?: unknown };
    expect(err.message).toContain(why);
    expect(err.message).not.toContain('s3cretPW');
    expect(String(err.stack)).not.toContain('s3cretPW');
    expect(err.cause).toBeUndefined();
    expect(err.input).toBeUndefined();
  });
});
