/**
 * Invariant: a redirect from upstream is passed to the client, never followed (SPEC §6 Upstream: "the proxy never
 * follows a redirect itself, so a credential never travels to a host the redirect names"). The redirect target is a
 * second real upstream that is itself a service host, so following it would be possible; it must receive nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../src/audit/events.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const SECRET = 'redirect-secret-0c4f2a';

let origin: TestUpstream;
let elsewhere: TestUpstream;
let proxy: TestProxy;
let api: string;
let target: string;

beforeAll(async () => {
  elsewhere = await startUpstream();
  target = `other.upstream.test:${elsewhere.port}`;
  origin = await startUpstream({
    handler: (req, res) => {
      const status = Number(new URL(req.url ?? '/', 'https://x').searchParams.get('status') ?? '302');
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { location: `https://${target}/steal?from=redirect`, 'content-length': '0' });
        res.end();
      });
    },
  });
  api = `api.upstream.test:${origin.port}`;
  proxy = await startTestProxy({
    services: [
      { name: 'api', hosts: [api], auth: { type: 'bearer', secret: 'K' } },
      // The redirect target is a service host too, with the same secret: following would be "allowed" by matching.
      { name: 'elsewhere', hosts: [target], auth: { type: 'bearer', secret: 'K' } },
    ],
    secrets: { K: SECRET },
  });
});
afterAll(async () => {
  await proxy?.close();
  await origin?.close();
  await elsewhere?.close();
});
afterEach(() => {
  proxy.events.length = 0;
  origin.received.length = 0;
  elsewhere.received.length = 0;
});

describe('a redirect from upstream is passed to the client, not followed', () => {
  it.each([301, 302, 303, 307, 308])(
    '%d: the client gets it with Location intact; the other host gets nothing',
    async (status) => {
      const res = await httpsRequestThrough(
        proxy.port,
        api,
        { method: 'POST', path: `/start?status=${status}`, body: 'payload' },
        { ca: proxy.proxy.caCertPem },
      );
      expect(res.status).toBe(status);
      expect(res.headers.location).toBe(`https://${target}/steal?from=redirect`);
      expect(origin.received).toHaveLength(1);
      expect(origin.received[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
      // Nothing at all reached the redirect target: no request, no TLS connection.
      expect(elsewhere.received).toHaveLength(0);
      expect(elsewhere.connections).toBe(0);
      const [ev] = (await proxy.waitForEvents(1)) as RequestEvent[];
      expect(ev).toMatchObject({ event: 'request', decision: 'inject', status, host: 'api.upstream.test' });
      expect(proxy.events).toHaveLength(1);
    },
  );
});
