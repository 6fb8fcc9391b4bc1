import { describe, expect, it } from 'vitest';
import { connectionOptions, stripHeaders } from '../../../src/pipeline/strip.js';

describe('stripHeaders', () => {
  it.each([
    [
      'nothing to strip keeps order and case',
      ['Host', 'a', 'X-Foo', '1', 'accept', '*/*'],
      ['Host', 'a', 'X-Foo', '1', 'accept', '*/*'],
    ],
    [
      'proxy-addressed headers',
      ['Host', 'a', 'Proxy-Authorization', 'Basic eDp5', 'x-clef-service', 'gh', 'Accept', '*/*'],
      ['Host', 'a', 'Accept', '*/*'],
    ],
    [
      'every hop-by-hop header, any case',
      [
        'Host',
        'a',
        'Connection',
        'keep-alive',
        'KEEP-ALIVE',
        'timeout=5',
        'Proxy-Connection',
        'keep-alive',
        'te',
        'trailers',
        'Trailer',
        'X-Sum',
        'Transfer-Encoding',
        'chunked',
        'Upgrade',
        'websocket',
        'X-Keep',
        'yes',
      ],
      ['Host', 'a', 'X-Keep', 'yes'],
    ],
    [
      'headers nominated by Connection',
      ['Connection', 'close, X-Foo', 'X-Foo', 'secret-ish', 'X-Bar', 'b', 'x-foo', 'again'],
      ['X-Bar', 'b'],
    ],
    [
      'Connection tokens are trimmed and case-insensitive, across several Connection lines',
      ['Connection', '  x-a ,X-B', 'connection', 'X-c', 'X-A', '1', 'x-b', '2', 'X-C', '3', 'X-D', '4'],
      ['X-D', '4'],
    ],
    ['empty Connection list entries are ignored', ['Connection', ', ,close,', 'X-Foo', '1'], ['X-Foo', '1']],
    [
      'Connection cannot nominate Host or Content-Length',
      [
        'Host',
        'a',
        'Content-Length',
        '3',
        'Connection',
        'host, content-length, authorization',
        'Authorization',
        'x',
      ],
      ['Host', 'a', 'Content-Length', '3'],
    ],
    ['trailing unpaired element dropped', ['X-A', '1', 'X-B'], ['X-A', '1']],
    ['empty', [], []],
  ])('%s', (_label, input, expected) => {
    const frozen = Object.freeze([...input]);
    const out = stripHeaders(frozen);
    expect(out).toEqual(expected);
    expect(out).not.toBe(frozen);
  });
});

describe('connectionOptions', () => {
  it.each([
    [['Accept', '*/*'], undefined],
    [['Connection', 'close'], ['close']],
    [
      ['Connection', 'Close, X-Foo ,'],
      ['close', 'x-foo'],
    ],
    [['Connection', 'host'], undefined],
  ])('%j', (raw, expected) => {
    const got = connectionOptions(raw);
    expect(got === undefined ? undefined : [...got]).toEqual(expected);
  });
});
