import { afterEach, describe, expect, it } from 'vitest';
import { lookupTo, startUpstream, type TestUpstream } from '../../helpers/upstream.js';
import { hp } from './dial-helpers.js';
import { closePool, get, makePool, requestError } from './pool-helpers.js';

let upstream: TestUpstream | undefined;

afterEach(async () => {
  closePool();
  await upstream?.close();
  upstream = undefined;
});

describe('createUpstreamPool', () => {
  it('reuses one upstream connection for sequential requests on the same route', async () => {
    upstream = await startUpstream();
    const p = makePool({ lookup: lookupTo('127.0.0.1') });
    const target = hp(`api.upstream.test:${upstream.port}`);
    const first = p.agentFor(target, 'https');
    expect(first.viaUpstreamProxy).toBe(false);
    const a = await get(first.agent, target, '/one');
    // A second client connection asks again: same agent, same warm socket.
    const second = p.agentFor(target, 'https');
    expect(second.agent).toBe(first.agent);
    const b = await get(second.agent, target, '/two?q=1');
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(JSON.parse(b.body)).toMatchObject({ method: 'GET', url: '/two?q=1' });
    expect(b.socket).toBe(a.socket);
    expect(upstream.connections).toBe(1);
    expect(upstream.servernames).toEqual(['api.upstream.test']);
    expect(upstream.received.map((r) => r.headers.host)).toEqual([target.key, target.key]);
  });

  it('surfaces a failed dial as the request error with its ProxyError code', async () => {
    upstream = await startUpstream();
    const p = makePool({ extraCa: [] });
    const target = hp(`127.0.0.1:${upstream.port}`);
    const err = await requestError(p.agentFor(target, 'https').agent, target);
    expect(err.code).toBe('upstream_tls_error');
    expect(upstream.received).toHaveLength(0);
  });

  it('closes idle keep-alive sockets after keepAliveIdleMs, and the next request dials again', async () => {
    upstream = await startUpstream();
    const p = makePool({ keepAliveIdleMs: 100 });
    const target = hp(`127.0.0.1:${upstream.port}`);
    const { agent } = p.agentFor(target, 'https');
    const a = await get(agent, target, '/a');
    await new Promise((r) => a.socket.once('close', r));
    await get(agent, target, '/b');
    expect(upstream.connections).toBe(2);
  });

  it('close() destroys pooled sockets', async () => {
    upstream = await startUpstream();
    const p = makePool();
    const target = hp(`127.0.0.1:${upstream.port}`);
    const a = await get(p.agentFor(target, 'https').agent, target, '/a');
    expect(a.socket.destroyed).toBe(false);
    p.close();
    expect(a.socket.destroyed).toBe(true);
  });
});
