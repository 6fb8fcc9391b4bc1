/**
 * `secret_ref` for the multi-secret auth types (issue 12, docs/audit.md): a JSON array of names, never anything
 * else; the v1 types keep their string byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { serializeEvent } from '../../../src/audit/serialize.js';
import { requestEvent } from './sample-events.js';

describe('secret_ref', () => {
  it('a list of names for basic and template services', () => {
    const line = serializeEvent(requestEvent(7, { auth_type: 'template', secret_ref: ['KEY_ID', 'KEY'] }))!;
    expect(line).toContain('"auth_type":"template","secret_ref":["KEY_ID","KEY"],"decision"');
    expect(JSON.parse(line)).toMatchObject({ schema_version: 1, secret_ref: ['KEY_ID', 'KEY'] });
  });

  it('names are escaped; a non-string element becomes null, never its contents', () => {
    const odd = ['a"b', { value: 'leak' }] as unknown as string[];
    const line = serializeEvent(requestEvent(7, { auth_type: 'basic', secret_ref: odd }))!;
    expect(JSON.parse(line).secret_ref).toEqual(['a"b', null]);
    expect(line).not.toContain('leak');
  });

  it('a single-secret type keeps its string', () => {
    expect(JSON.parse(serializeEvent(requestEvent())!).secret_ref).toBe('GITHUB_TOKEN');
  });
});
