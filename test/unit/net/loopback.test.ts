import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../../src/net/loopback.js';

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['127.255.255.254', true],
    ['::1', true],
    ['[::1]', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['localhost.', true],
    ['::ffff:127.0.0.1', true],
    ['[::FFFF:127.0.0.1]', true],
    ['10.0.0.1', false],
    ['0.0.0.0', false],
    ['::', false],
    ['128.0.0.1', false],
    ['126.255.255.255', false],
    ['::2', false],
    ['::ffff:10.0.0.1', false],
    ['example.com', false],
    ['localhost.example.com', false],
    ['mylocalhost', false],
    ['127.0.0.1.nip.io', false],
    ['127.1', false], // not a canonical literal; fails closed
    ['', false],
  ])('%j → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  // Regression: non-canonical spellings of loopback used to be refused. `::ffff:7f00:1` is the form both
  // `new URL('http://[::ffff:127.0.0.1]/').hostname` and normalizeHost() produce.
  it.each([['::ffff:7f00:1'], ['[::ffff:7f00:1]'], ['0:0::1'], ['0:0:0:0:0:0:0:1'], ['::ffff:7fff:1']])(
    '%j is loopback',
    (host) => {
      expect(isLoopbackHost(host)).toBe(true);
    },
  );
});
