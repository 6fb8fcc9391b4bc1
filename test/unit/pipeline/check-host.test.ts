import { describe, expect, it } from 'vitest';
import { checkHost, checkRequestHost, singleHostHeader } from '../../../src/pipeline/check-host.js';
import { hp } from './fixtures.js';

const OK = { ok: true, value: true };
const MISDIRECTED = { ok: false, code: 'misdirected_request' };
const BAD = { ok: false, code: 'bad_request' };

describe('checkHost', () => {
  it.each([
    // [Host header, CONNECT target, expected]
    ['api.example.com', 'api.example.com:443', OK],
    ['API.Example.com', 'api.example.com:443', OK],
    ['api.example.com.', 'api.example.com:443', OK],
    ['api.example.com:443', 'api.example.com:443', OK],
    ['API.EXAMPLE.COM.:443', 'api.example.com:443', OK],
    ['api.example.com:0443', 'api.example.com:443', OK],
    ['api.example.com:8443', 'api.example.com:8443', OK],
    ['bücher.example', 'xn--bcher-kva.example:443', OK],
    ['xn--bcher-kva.example', 'bücher.example:443', OK],
    ['127.0.0.1:8443', '127.0.0.1:8443', OK],
    ['127.0.0.1', '127.0.0.1:443', OK],
    ['[::1]:8443', '[::1]:8443', OK],
    ['[0:0:0:0:0:0:0:1]:8443', '[::1]:8443', OK],
    ['[::1]', '[::1]:443', OK],
    // bare host names port 443 only
    ['api.example.com', 'api.example.com:8443', MISDIRECTED],
    ['api.example.com:443', 'api.example.com:8443', MISDIRECTED],
    ['api.example.com:8443', 'api.example.com:443', MISDIRECTED],
    ['[::1]', '[::1]:8443', MISDIRECTED],
    ['other.example.com', 'api.example.com:443', MISDIRECTED],
    ['api.example.com.evil.com', 'api.example.com:443', MISDIRECTED],
    ['127.0.0.2:8443', '127.0.0.1:8443', MISDIRECTED],
    // not a valid Host value at all
    ['::1', '[::1]:443', BAD],
    ['[::1', '[::1]:443', BAD],
    ['user@api.example.com', 'api.example.com:443', BAD],
    ['api.example.com:', 'api.example.com:443', BAD],
    ['api.example.com:0', 'api.example.com:443', BAD],
    ['api.example.com:65536', 'api.example.com:443', BAD],
    ['api.example.com:+443', 'api.example.com:443', BAD],
    ['api.example.com/x', 'api.example.com:443', BAD],
    ['', 'api.example.com:443', BAD],
    [undefined, 'api.example.com:443', BAD],
  ])('Host %j vs CONNECT %s', (host, target, expected) => {
    expect(checkHost(host, hp(target))).toEqual(expected);
  });
});

describe('singleHostHeader', () => {
  it.each([
    [['Host', 'a.example.com', 'Accept', '*/*'], { ok: true, value: 'a.example.com' }],
    [['Accept', '*/*', 'host', 'a.example.com'], { ok: true, value: 'a.example.com' }],
    [['Accept', '*/*'], { ok: true, value: undefined }],
    [[], { ok: true, value: undefined }],
    [['Host', 'a.example.com', 'HOST', 'evil.example.com'], BAD],
    [['Host', 'a.example.com', 'X-Host', 'b', 'host', 'a.example.com'], BAD],
  ])('%j', (raw, expected) => {
    expect(singleHostHeader(raw)).toEqual(expected);
  });
});

describe('checkRequestHost', () => {
  const target = hp('api.example.com:443');
  it.each([
    [['Host', 'api.example.com'], OK],
    [['Host', 'other.example.com'], MISDIRECTED],
    [['Host', 'api.example.com', 'Host', 'evil.example.com'], BAD],
    [['Accept', '*/*'], BAD],
  ])('%j', (raw, expected) => {
    expect(checkRequestHost(raw, target)).toEqual(expected);
  });
});
