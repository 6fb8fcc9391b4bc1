/**
 * With `auditBeforeLastByte` (on in every `workers` process), a request's audit event is written before the last
 * byte of its response leaves the proxy (issue 14: a worker killed under load loses no audit event for a response
 * its client received whole). The test proxy runs in this
 * process, so at the moment its audit sink is called the client cannot have read anything the proxy has not yet
 * handed to the kernel: the client's count of bytes read for that response, taken inside the sink, must be short
 * of the whole response. Checked for an HTTP/1.1 upstream (Content-Length and chunked), an HTTP/2 upstream behind
 * an HTTP/1.1 client, and an HTTP/2 client.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/events.js';
import { h2Through } from '../helpers/h2-client.js';
import { startH2Upstream } from '../helpers/h2-upstream.js';
import { startTestProxy } from '../helpers/proxy.js';
import { tlsThrough } from '../helpers/tls-client.js';
import { startUpstream } from '../helpers/upstream.js';
import { closeKept, keep } from './intercept/intercept-helpers.js';

afterEach(closeKept);

/** Ends in a marker, so the client can tell the whole body from its first part. */
const BODY = `${'x'.repeat(2990)}0123456789`;
const N = 10;

/** A proxy for `target` whose audit sink records `readNow()` for every request event. */
async function proxyFor(target: string, readNow: () => number) {
  const atAudit: number[] = [];
  const px = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: 'order-secret' },
      auditBeforeLastByte: true,
      onAudit: (e: AuditEvent) => {
        if (e.event === 'request') atAudit.push(readNow());
      },
    }),
  );
  return { px, atAudit };
}

/**
 * `N` requests on one kept-alive HTTP/1.1 connection through the proxy. Returns, per request, the response bytes
 * the client had read when its event was audited, and the response's whole size.
 */
async function h1Requests(target: string, path: string, endsWith: string) {
  let sinceRequest = 0;
  const { px, atAudit } = await proxyFor(target, () => sinceRequest);
  const tls = await tlsThrough(px.port, target, { ca: px.proxy.caCertPem });
  let text = '';
  tls.on('data', (c: Buffer) => {
    sinceRequest += c.length;
    text += c.toString('latin1');
  });
  const whole: number[] = [];
  for (let i = 0; i < N; i++) {
    sinceRequest = 0;
    text = '';
    tls.write(`GET ${path} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
    await new Promise<void>((resolve) => {
      const check = () => {
        if (!text.endsWith(endsWith)) return;
        tls.off('data', check);
        resolve();
      };
      tls.on('data', check);
    });
    whole.push(sinceRequest);
    // The event of this request is written by now (before its last byte, so before this point).
    expect(atAudit).toHaveLength(i + 1);
  }
  tls.destroy();
  return { atAudit, whole, text };
}

/** Answers with the body in two writes a few ms apart, so the response's end comes in its own read. */
function slowEnd(write: (s: string) => void, end: (s: string) => void) {
  write(BODY.slice(0, 1000));
  setTimeout(() => end(BODY.slice(1000)), 5);
}

/** An HTTP/1.1 upstream answering `/cl` with Content-Length, anything else chunked, its body ending late. */
async function h1Upstream() {
  return keep(
    await startUpstream({
      handler: (req, res) => {
        req.resume();
        req.on('end', () => {
          if (req.url === '/cl') res.writeHead(200, { 'content-length': String(BODY.length) });
          else res.writeHead(200, { 'transfer-encoding': 'chunked' });
          slowEnd(
            (s) => res.write(s),
            (s) => res.end(s),
          );
        });
      },
    }),
  );
}

/**
 * For `/cl` (a Content-Length response, ending in the body's last bytes) and `/chunked` (a chunked one, ending in
 * its terminator): every event was written while the HTTP/1.1 client still lacked part of its response.
 */
async function expectAuditedBeforeTheEnd(target: string) {
  for (const [path, endsWith] of [
    ['/cl', BODY.slice(-10)],
    ['/chunked', '\r\n0\r\n\r\n'],
  ] as const) {
    const { atAudit, whole, text } = await h1Requests(target, path, endsWith);
    expect(text.startsWith('HTTP/1.1 200')).toBe(true);
    for (let i = 0; i < N; i++) expect(atAudit[i]).toBeLessThan(whole[i]!);
  }
}

describe('audit before the last response byte', () => {
  it('HTTP/1.1 upstream, Content-Length and chunked responses', async () => {
    const up = await h1Upstream();
    await expectAuditedBeforeTheEnd(`api.upstream.test:${up.port}`);
  });

  it('HTTP/2 upstream behind an HTTP/1.1 client, with and without Content-Length', async () => {
    const up = keep(
      await startH2Upstream({
        handler: (stream: ServerHttp2Stream, headers) => {
          stream.resume();
          stream.on('end', () => {
            stream.respond(
              headers[':path'] === '/cl'
                ? { ':status': 200, 'content-length': String(BODY.length) }
                : { ':status': 200 },
            );
            slowEnd(
              (s) => stream.write(s),
              (s) => stream.end(s),
            );
          });
        },
      }),
    );
    // Without a Content-Length from the HTTP/2 upstream, the HTTP/1.1 client gets a chunked response.
    await expectAuditedBeforeTheEnd(`api.upstream.test:${up.port}`);
  });

  it('HTTP/2 client', async () => {
    const up = await h1Upstream();
    const target = `api.upstream.test:${up.port}`;
    let sinceRequest = 0;
    const { px, atAudit } = await proxyFor(target, () => sinceRequest);
    const session = await h2Through(px.port, target, px.proxy.caCertPem);
    const whole: number[] = [];
    for (let i = 0; i < N; i++) {
      sinceRequest = 0;
      const stream = session.request({ ':method': 'GET', ':path': '/cl' });
      stream.on('data', (c: Buffer) => {
        sinceRequest += c.length;
      });
      await new Promise((resolve) => stream.on('end', resolve));
      expect(sinceRequest).toBe(BODY.length);
      whole.push(sinceRequest);
      expect(atAudit).toHaveLength(i + 1);
    }
    session.destroy();
    for (let i = 0; i < N; i++) expect(atAudit[i]).toBeLessThan(whole[i]!);
  });
});
