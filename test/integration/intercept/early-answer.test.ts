/**
 * An upstream that answers before reading the request body (an early 401/413, nginx `return`): the client gets the
 * answer, the rest of its body is read and dropped, and the next request on the same client connection is served
 * (it used to stall behind the unread body).
 */
import { ProxyAgent, request as undiciRequest } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { basicAuth, startTestProxy } from '../../helpers/proxy.js';
import { startUpstream } from '../../helpers/upstream.js';
import { closeKept, keep } from './intercept-helpers.js';

afterEach(closeKept);

describe('upstream answers before the request body is read', () => {
  it('413 reaches the client and the next request on the connection is served', async () => {
    const upstream = keep(
      await startUpstream({
        handler: (req, res) => {
          if (req.url === '/upload') {
            // Answer at once, then drain the body, as nginx's `return` or an early 401/413 does.
            res.writeHead(413, { 'content-length': '8' }).end('too big\n');
            req.resume();
            return;
          }
          req.resume();
          req.on('end', () => res.end('next ok'));
        },
      }),
    );
    const target = `api.upstream.test:${upstream.port}`;
    const proxy = keep(
      await startTestProxy({
        services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
        secrets: { KEY: 'early-secret' },
      }),
    );
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${proxy.port}`,
      token: basicAuth(),
      connections: 1,
      requestTls: { ca: proxy.proxy.caCertPem },
    });
    try {
      const big = Buffer.alloc(1 << 20, 0x61);
      for (let i = 0; i < 3; i++) {
        const early = await undiciRequest(`https://${target}/upload`, {
          dispatcher: agent,
          method: 'POST',
          body: big,
        });
        expect(early.statusCode).toBe(413);
        expect(await early.body.text()).toBe('too big\n');
      }
      const second = await undiciRequest(`https://${target}/next`, { dispatcher: agent });
      expect(second.statusCode).toBe(200);
      expect(await second.body.text()).toBe('next ok');
    } finally {
      await agent.close();
    }
    const events = (await proxy.waitForEvents(4)) as RequestEvent[];
    expect(events.map((e) => [e.path, e.status])).toEqual([
      ['/upload', 413],
      ['/upload', 413],
      ['/upload', 413],
      ['/next', 200],
    ]);
    expect(new Set(events.map((e) => e.conn_id)).size).toBe(1);
  });
});
