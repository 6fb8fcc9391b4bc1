/**
 * A kept-alive upstream socket the upstream has already closed (issue: faults): the proxy sends again on a fresh
 * socket only what is safe to repeat — an idempotent request whose empty body was never read — and answers
 * anything else with 502 rather than replaying it.
 */
import type { Socket } from 'node:net';
import { ProxyAgent, request as undiciRequest } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { basicAuth } from '../../helpers/proxy.js';
import { closeKept, startBearerService } from './intercept-helpers.js';

afterEach(closeKept);

/**
 * An upstream that answers the first request on each socket and then kills that socket the moment a second
 * request arrives on it — what a server whose keep-alive timer just fired looks like from the proxy.
 */
async function setup() {
  const served = new WeakMap<Socket, number>();
  const { target, up, px, ca } = await startBearerService('stale-secret', (req, res) => {
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (n > 1) {
      req.socket.destroy();
      return;
    }
    req.resume();
    req.on('end', () => res.end(`ok ${req.method} ${req.url}`));
  });
  const agent = new ProxyAgent({
    uri: `http://127.0.0.1:${px.port}`,
    token: basicAuth(),
    connections: 1,
    requestTls: { ca },
  });
  return { target, agent, up, px };
}

describe('stale kept-alive upstream sockets', () => {
  it('a GET on a socket the upstream closed is sent again on a fresh one', async () => {
    const { target, agent, up, px } = await setup();
    try {
      const first = await undiciRequest(`https://${target}/one`, { dispatcher: agent });
      expect(await first.body.text()).toBe('ok GET /one');
      const second = await undiciRequest(`https://${target}/two`, { dispatcher: agent });
      expect(second.statusCode).toBe(200);
      expect(await second.body.text()).toBe('ok GET /two');
    } finally {
      await agent.close();
    }
    // /two reached the upstream twice: once on the dead socket (killed unanswered), once on a new connection.
    expect(up.received.map((r) => r.url)).toEqual(['/one', '/two', '/two']);
    expect(up.connections).toBe(2);
    const events = (await px.waitForEvents(2)) as RequestEvent[];
    expect(events.map((e) => [e.path, e.status, e.reason])).toEqual([
      ['/one', 200, undefined],
      ['/two', 200, undefined],
    ]);
  });

  it('a POST with a body is never replayed: 502 upstream_error', async () => {
    const { target, agent, up, px } = await setup();
    try {
      const first = await undiciRequest(`https://${target}/one`, { dispatcher: agent });
      await first.body.text();
      const post = await undiciRequest(`https://${target}/pay`, {
        dispatcher: agent,
        method: 'POST',
        body: 'amount=1',
      });
      expect(post.statusCode).toBe(502);
      expect(post.headers['x-clef-proxy-error']).toBe('upstream_error');
      await post.body.text();
    } finally {
      await agent.close();
    }
    expect(up.received.filter((r) => r.url === '/pay')).toHaveLength(1);
    const events = (await px.waitForEvents(2)) as RequestEvent[];
    expect(events[1]).toMatchObject({ path: '/pay', status: 502, reason: 'upstream_error' });
  });
});
