/**
 * A client RST_STREAM (issue 11): audited `client_aborted`, and only that stream's upstream request is aborted —
 * the other streams of the session, and of the upstream session, carry on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { h2Get, h2Through } from '../../helpers/h2-client.js';
import { startH2Upstream } from '../../helpers/h2-upstream.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { closeKept, finalEvents, keep, startBearerService } from '../intercept/intercept-helpers.js';

afterEach(closeKept);

describe('client resets', () => {
  for (const upstreamKind of ['h2', 'h1'] as const) {
    it(`a reset stream is client_aborted and aborts only its upstream request (${upstreamKind} upstream)`, async () => {
      const slow = (path: string) => path.startsWith('/slow');
      let target: string;
      let px: Awaited<ReturnType<typeof startTestProxy>>;
      let upstreamAborted: () => boolean;
      if (upstreamKind === 'h2') {
        const up = keep(
          await startH2Upstream({
            handler: (stream, headers) => {
              stream.resume();
              if (slow(String(headers[':path']))) {
                stream.respond({ ':status': 200 });
                stream.write('first');
                return;
              }
              stream.respond({ ':status': 200 });
              stream.end('fast');
            },
          }),
        );
        target = `api.upstream.test:${up.port}`;
        px = keep(
          await startTestProxy({
            services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'K' } }],
            secrets: { K: 's' },
          }),
        );
        upstreamAborted = () => up.received.find((r) => r.headers[':path'] === '/slow')?.aborted === true;
      } else {
        let aborted = false;
        const svc = await startBearerService('s', (req, res) => {
          if (slow(req.url ?? '')) {
            res.writeHead(200);
            res.write('first');
            res.once('close', () => {
              aborted = !res.writableFinished;
            });
            return;
          }
          res.end('fast');
        });
        target = svc.target;
        px = svc.px;
        upstreamAborted = () => aborted;
      }
      const session = await h2Through(px.port, target, px.proxy.caCertPem);
      const stream = session.request({ ':method': 'GET', ':path': '/slow' }, { endStream: true });
      stream.on('error', () => {});
      await new Promise<void>((resolve) => stream.once('data', () => resolve()));
      stream.close(8); // RST_STREAM CANCEL
      await expect.poll(upstreamAborted, { timeout: 10_000 }).toBe(true);
      // The session lives on: another stream on it completes.
      const after = await h2Get(session, '/fast');
      expect(after.status).toBe(200);
      expect(after.body.toString()).toBe('fast');
      session.close();
      const events = await finalEvents(px);
      const slowEvent = events.find((e) => e.path === '/slow');
      expect(slowEvent).toMatchObject({ reason: 'client_aborted', status: 200 });
      expect(events.find((e) => e.path === '/fast')).toMatchObject({ status: 200 });
      expect(events.find((e) => e.path === '/fast')?.reason).toBeUndefined();
    });
  }
});
