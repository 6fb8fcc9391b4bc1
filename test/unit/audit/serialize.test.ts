import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../../src/audit/events.js';
import { serializeEvent } from '../../../src/audit/serialize.js';
import { denyEvent, requestEvent, TS, tunnelEvent } from './sample-events.js';

const REQUEST_KEYS = [
  'schema_version',
  'ts',
  'event',
  'conn_id',
  'request_id',
  'client',
  'identity',
  'method',
  'host',
  'port',
  'path',
  'service',
  'auth_type',
  'secret_ref',
  'decision',
  'status',
  'bytes_in',
  'bytes_out',
  'duration_ms',
  'via_upstream_proxy',
];
const withReason = (keys: string[]) => {
  const at = keys.indexOf('decision') + 1;
  return [...keys.slice(0, at), 'reason', ...keys.slice(at)];
};
const BASE = ['schema_version', 'ts', 'event', 'conn_id', 'client', 'identity', 'host', 'port', 'decision'];
const TUNNEL_KEYS = [...BASE, 'bytes_in', 'bytes_out', 'duration_ms', 'via_upstream_proxy'];

describe('serializeEvent', () => {
  it('writes the SPEC §10 example byte for byte, plus the identity (issue 12, additive)', () => {
    expect(serializeEvent(requestEvent(7, { conn_id: 'c7', request_id: 'c7.3' }))).toBe(
      `{"schema_version":1,"ts":"${TS}","event":"request","conn_id":"c7","request_id":"c7.3",` +
        '"client":"127.0.0.1:53422","identity":"ci-bot","method":"GET","host":"api.github.com","port":443,"path":"/repos/x",' +
        '"service":"github","auth_type":"bearer","secret_ref":"GITHUB_TOKEN","decision":"inject","status":200,' +
        '"bytes_in":0,"bytes_out":512,"duration_ms":12.3,"via_upstream_proxy":false}\n',
    );
  });

  it.each<[string, AuditEvent, string[]]>([
    ['request inject', requestEvent(), REQUEST_KEYS],
    [
      'request deny',
      requestEvent(1, { decision: 'deny', reason: 'no_matching_service', status: 403, service: null }),
      withReason(REQUEST_KEYS),
    ],
    [
      'request aborted',
      requestEvent(1, { reason: 'client_aborted', status: null }),
      withReason(REQUEST_KEYS),
    ],
    ['tunnel', tunnelEvent(), TUNNEL_KEYS],
    ['tunnel with reason', tunnelEvent(1, { reason: 'idle_timeout' }), withReason(TUNNEL_KEYS)],
    ['deny without response', denyEvent(), [...BASE, 'reason']],
    [
      'deny with status',
      denyEvent(1, { reason: 'proxy_auth_required', status: 407 }),
      [...BASE, 'reason', 'status'],
    ],
  ])('%s: one line, fields in SPEC order', (_name, event, keys) => {
    const line = serializeEvent(event)!;
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(keys);
    for (const key of keys) expect(parsed[key]).toEqual((event as unknown as Record<string, unknown>)[key]);
  });

  it('writes null host and port for a refusal before any target was parsed', () => {
    const parsed = JSON.parse(serializeEvent(denyEvent())!);
    expect(parsed.host).toBeNull();
    expect(parsed.port).toBeNull();
    expect(parsed.reason).toBe('header_timeout');
    expect('status' in parsed).toBe(false);
  });

  it.each<[string, AuditEvent]>([
    ['request', requestEvent()],
    ['tunnel', tunnelEvent()],
    ['deny', denyEvent()],
  ])('%s: keys outside the allow-list never appear', (_name, event) => {
    // What a careless caller might spread in from a request: none of it may reach the line.
    const tainted: AuditEvent = Object.assign({}, event, {
      authorization: 'Bearer sekrit-authz',
      token: 'sekrit-token',
      query: 'api_key=sekrit-query',
      cookie: 'sid=sekrit-cookie',
      headers: { 'proxy-authorization': 'Basic sekrit-proxy' },
      value: 'sekrit-value',
    });
    const line = serializeEvent(tainted)!;
    expect(line).not.toMatch(/sekrit|authorization|token"|query|cookie|headers|"value"/);
    expect(line).toBe(serializeEvent(event));
  });

  it.each([
    ['/repos/x?api_key=sekrit', '/repos/x'],
    ['/a#frag?x', '/a'],
    ['/a?b#c', '/a'],
    ['/plain', '/plain'],
    ['/', '/'],
  ])('path %s is written as %s (no query string)', (path, expected) => {
    expect(JSON.parse(serializeEvent(requestEvent(1, { path }))!).path).toBe(expected);
  });

  it('writes null, never the contents, when a field holds the wrong type', () => {
    const event = requestEvent(1, {
      service: { secret: 'sekrit' } as unknown as string,
      port: '443' as unknown as number,
      duration_ms: Number.NaN,
      bytes_out: Number.POSITIVE_INFINITY,
      via_upstream_proxy: 'yes' as unknown as boolean,
    });
    const parsed = JSON.parse(serializeEvent(event)!);
    expect(parsed).toMatchObject({ service: null, port: null, duration_ms: null, bytes_out: null });
    expect(parsed.via_upstream_proxy).toBe(false);
  });

  it('escapes control characters so a hostile value cannot start a second line', () => {
    const line = serializeEvent(requestEvent(1, { method: 'GET\r\n{"event":"forged"}', path: '/x\n' }))!;
    expect(line.split('\n')).toHaveLength(2);
    expect(JSON.parse(line).method).toBe('GET\r\n{"event":"forged"}');
  });

  it.each([null, undefined, 42, 'request', { event: 'other' }, {}])('refuses %j', (value) => {
    expect(serializeEvent(value as unknown as AuditEvent)).toBeUndefined();
  });
});
