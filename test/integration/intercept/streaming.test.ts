/**
 * Bodies stream both ways through interception (SPEC §6: no buffering of whole bodies, SSE flows as it comes),
 * `Expect: 100-continue` works, and responses — redirects included — go back as they are.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { httpsRequestThrough, readBody, requestThrough } from '../../helpers/tls-client.js';
import type { UpstreamHandler } from '../../helpers/upstream.js';
import { closeKept, finalEvents, startBearerService } from './intercept-helpers.js';

const TEN_MIB = 10 * 1024 * 1024;

afterEach(closeKept);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function setup(handler?: UpstreamHandler) {
  return startBearerService('stream-secret', handler);
}

describe('10 MiB bodies stream intact', () => {
  it.each([
    ['Content-Length', { 'content-length': String(TEN_MIB) }],
    ['chunked', { 'transfer-encoding': 'chunked' }],
  ])('upload with %s framing: same sha256 on both ends, bytes_in counted', async (_n, headers) => {
    const { target, up, px, ca } = await setup((req, res) => {
      const hash = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        hash.update(c);
        n += c.length;
      });
      req.on('end', () => res.end(JSON.stringify({ sha: hash.digest('hex'), n })));
    });
    const body = randomBytes(TEN_MIB);
    const open = await requestThrough(px.port, target, { method: 'PUT', path: '/up', headers }, { ca });
    // Written in pieces so a chunked upload really is many chunks.
    for (let i = 0; i < body.length; i += 256 * 1024) open.req.write(body.subarray(i, i + 256 * 1024));
    open.req.end();
    const res = await open.response;
    const answer = await readBody(res);
    open.socket.destroy();
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(answer.toString())).toEqual({ sha: sha256(body), n: TEN_MIB });
    expect(up.received[0]!.headers.authorization).toBe('Bearer stream-secret');
    const [ev] = await finalEvents(px);
    expect(ev).toMatchObject({
      decision: 'inject',
      status: 200,
      bytes_in: TEN_MIB,
      bytes_out: answer.length,
    });
    expect(ev!.reason).toBeUndefined();
  });

  it('download: same sha256 on both ends, bytes_out counted', async () => {
    const payload = randomBytes(TEN_MIB);
    const { target, px, ca } = await setup((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': payload.length });
      for (let i = 0; i < payload.length; i += 256 * 1024) res.write(payload.subarray(i, i + 256 * 1024));
      res.end();
    });
    const res = await httpsRequestThrough(px.port, target, { path: '/down' }, { ca });
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(TEN_MIB);
    expect(sha256(res.body)).toBe(sha256(payload));
    const [ev] = await finalEvents(px);
    expect(ev).toMatchObject({ status: 200, bytes_in: 0, bytes_out: TEN_MIB });
  });
});

describe('responses flow as they come', () => {
  it('SSE: the first event reaches the client before the upstream ends the stream', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let upstreamEnded = false;
    const { target, px, ca } = await setup((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: tick\ndata: one\n\n');
      void released.then(() => {
        upstreamEnded = true;
        res.end('event: tick\ndata: two\n\n');
      });
    });
    const open = await requestThrough(
      px.port,
      target,
      { path: '/events', headers: { accept: 'text/event-stream' } },
      { ca },
    );
    open.req.end();
    const res = await open.response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    let text = '';
    let endedWhenFirstSeen: boolean | undefined;
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
      if (endedWhenFirstSeen === undefined && text.includes('data: one\n\n')) {
        endedWhenFirstSeen = upstreamEnded;
        release();
      }
    });
    await new Promise<void>((r) => res.once('end', () => r()));
    open.socket.destroy();
    expect(endedWhenFirstSeen).toBe(false);
    expect(text).toBe('event: tick\ndata: one\n\nevent: tick\ndata: two\n\n');
    const [ev] = await finalEvents(px);
    expect(ev).toMatchObject({ status: 200, bytes_out: Buffer.byteLength(text) });
  });

  it('a redirect goes back to the client as it is and is not followed', async () => {
    const { target, up, px, ca } = await setup((req, res) => {
      req.resume();
      res.writeHead(302, { location: `https://other.upstream.test:${up.port}/landing?x=1` });
      res.end();
    });
    const res = await httpsRequestThrough(px.port, target, { path: '/go' }, { ca });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`https://other.upstream.test:${up.port}/landing?x=1`);
    expect(up.received.map((r) => r.url)).toEqual(['/go']);
    const [ev] = await finalEvents(px);
    expect(ev).toMatchObject({ status: 302, decision: 'inject' });
  });

  it('Expect: 100-continue: the client gets its 100, the body goes through', async () => {
    const { target, up, px, ca } = await setup();
    const body = Buffer.from('{"after":"continue"}');
    const open = await requestThrough(
      px.port,
      target,
      { method: 'POST', path: '/expect', headers: { expect: '100-continue', 'content-length': body.length } },
      { ca },
    );
    let continued = false;
    open.req.once('continue', () => {
      continued = true;
      open.req.end(body);
    });
    const res = await open.response;
    const answer = await readBody(res);
    open.socket.destroy();
    expect(continued).toBe(true);
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(answer.toString())).toMatchObject({ method: 'POST', url: '/expect' });
    expect(up.received[0]!.body.equals(body)).toBe(true);
    expect(up.received[0]!.headers.authorization).toBe('Bearer stream-secret');
  });
});
