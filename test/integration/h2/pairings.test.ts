/**
 * HTTP/2 on both sides (issue 11): every pairing of client and upstream protocol — h2→h1, h2→h2, h1→h2 (h1→h1 is
 * the rest of the suite) — carries the request through the same pipeline: `:authority` checked as Host, the bearer
 * injected, one `request` audit event per stream, the same JSON error bodies.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { h2Get, h2Request, h2Through } from '../../helpers/h2-client.js';
import { startH2Upstream } from '../../helpers/h2-upstream.js';
import { startTestProxy } from '../../helpers/proxy.js';
import { httpsRequestThrough } from '../../helpers/tls-client.js';
import { closeKept, finalEvents, keep, startBearerService } from '../intercept/intercept-helpers.js';

const SECRET = 'sk-h2-secret';
afterEach(closeKept);

async function h2Service(upstreamOpts: Parameters<typeof startH2Upstream>[0] = {}) {
  const up = keep(await startH2Upstream(upstreamOpts));
  const target = `api.upstream.test:${up.port}`;
  const px = keep(
    await startTestProxy({
      services: [{ name: 'svc', hosts: [target], auth: { type: 'bearer', secret: 'KEY' } }],
      secrets: { KEY: SECRET },
    }),
  );
  return { up, target, px, ca: px.proxy.caCertPem };
}

describe('h2 client → h1 upstream', () => {
  it('negotiates h2 with the client, injects, and audits one request per stream', async () => {
    const { target, up, px, ca } = await startBearerService(SECRET);
    const session = await h2Through(px.port, target, ca);
    const [a, b] = await Promise.all([h2Get(session, '/v1/a?q=1'), h2Get(session, '/v1/b')]);
    session.close();
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(a.complete).toBe(true);
    const seen = JSON.parse(a.body.toString());
    expect(seen.url).toBe('/v1/a?q=1');
    expect(up.received.map((r) => r.headers.authorization)).toEqual([`Bearer ${SECRET}`, `Bearer ${SECRET}`]);
    expect(up.received[0]!.headers.host).toBe(target);
    const events = await finalEvents(px);
    expect(events).toHaveLength(2);
    expect(events.map((e) => e.path).sort()).toEqual(['/v1/a', '/v1/b']);
    for (const e of events) expect(e).toMatchObject({ decision: 'inject', service: 'svc', status: 200 });
  });

  it('a mismatched :authority is 421 misdirected_request with the JSON body, nothing upstream', async () => {
    const { target, up, px, ca } = await startBearerService(SECRET);
    const session = await h2Through(px.port, target, ca);
    const reply = await h2Get(session, '/x', { ':authority': 'other.upstream.test' });
    session.close();
    expect(reply.status).toBe(421);
    expect(reply.headers['x-clef-proxy-error']).toBe('misdirected_request');
    expect(JSON.parse(reply.body.toString())).toMatchObject({ error: 'misdirected_request' });
    expect(up.received).toHaveLength(0);
    const events = await finalEvents(px);
    expect(events).toMatchObject([{ decision: 'deny', reason: 'misdirected_request', status: 421 }]);
  });

  it('a Host header that differs from :authority is 400 bad_request', async () => {
    const { target, up, px, ca } = await startBearerService(SECRET);
    const session = await h2Through(px.port, target, ca);
    const reply = await h2Get(session, '/x', { ':authority': target, host: 'other.upstream.test' });
    session.close();
    expect(reply.status).toBe(400);
    expect(up.received).toHaveLength(0);
  });

  it('streams a POST body up and the response down', async () => {
    const { target, up, px, ca } = await startBearerService(SECRET);
    const session = await h2Through(px.port, target, ca);
    const body = Buffer.alloc(300_000, 'b');
    const reply = await h2Request(session, { ':method': 'POST', ':path': '/upload' }, body);
    session.close();
    expect(reply.status).toBe(200);
    expect(up.received[0]!.body.equals(body)).toBe(true);
    const [event] = await finalEvents(px);
    expect(event).toMatchObject({ bytes_in: body.length, status: 200 });
  });
});

describe('h2 client → h2 upstream', () => {
  it('multiplexes the streams of one client over one upstream session, bearer injected', async () => {
    const { up, target, px, ca } = await h2Service();
    const session = await h2Through(px.port, target, ca);
    const replies = await Promise.all([1, 2, 3, 4].map((i) => h2Get(session, `/s/${i}`)));
    const post = await h2Request(session, { ':method': 'POST', ':path': '/p' }, 'hello');
    session.close();
    for (const r of replies) expect(r.status).toBe(200);
    expect(JSON.parse(post.body.toString())).toMatchObject({ method: 'POST', body: 'hello' });
    expect(up.received.map((r) => r.headers.authorization)).toEqual(Array(5).fill(`Bearer ${SECRET}`));
    expect(up.received[0]!.headers[':authority']).toBe(target);
    expect(up.sessions).toHaveLength(1);
    const events = await finalEvents(px);
    expect(events).toHaveLength(5);
  });

  it('an upstream with an untrusted certificate is 502 upstream_tls_error', async () => {
    const { up, target, px, ca } = await h2Service({ cert: 'untrusted' });
    const session = await h2Through(px.port, target, ca);
    const reply = await h2Get(session, '/x');
    session.close();
    expect(reply.status).toBe(502);
    expect(reply.headers['x-clef-proxy-error']).toBe('upstream_tls_error');
    expect(up.received).toHaveLength(0);
  });
});

describe('h1 client → h2 upstream', () => {
  it('an HTTP/1.1 client is carried as a stream on the upstream session', async () => {
    const { up, target, px, ca } = await h2Service();
    const get = await httpsRequestThrough(px.port, target, { path: '/h1/a' }, { ca });
    const post = await httpsRequestThrough(
      px.port,
      target,
      { path: '/h1/b', method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(70_000) },
      { ca },
    );
    expect(get.status).toBe(200);
    expect(get.json()).toMatchObject({ method: 'GET', path: '/h1/a' });
    expect(post.json()).toMatchObject({ method: 'POST', body: 'x'.repeat(70_000) });
    expect(up.received.map((r) => r.headers.authorization)).toEqual([`Bearer ${SECRET}`, `Bearer ${SECRET}`]);
    expect(up.received[0]!.headers[':authority']).toBe(target);
    // Both client connections share the route's one upstream session.
    expect(up.sessions).toHaveLength(1);
    const events = await finalEvents(px);
    expect(events).toMatchObject([
      { decision: 'inject', status: 200, path: '/h1/a' },
      { decision: 'inject', status: 200, path: '/h1/b', bytes_in: 70_000 },
    ]);
  });
});

describe('real clients', () => {
  it('curl --http2 reports HTTP/2 through the proxy', async () => {
    const h1 = await startBearerService(SECRET);
    const caFile = join(h1.px.caDir, 'client-ca.pem');
    await writeFile(caFile, h1.ca);
    const curl = (target: string, port: number) =>
      promisify(execFile)('curl', [
        '-sS',
        '--http2',
        '--proxy',
        `http://127.0.0.1:${port}`,
        '--proxy-user',
        'workload:test-workload-token',
        '--cacert',
        caFile,
        '-w',
        '\\n%{http_version} %{http_code}',
        `https://${target}/curl`,
      ]);
    const out = await curl(h1.target, h1.px.port);
    expect(out.stdout.trim().split('\n').at(-1)).toBe('2 200');
    expect(h1.up.received[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('undici with allowH2 gets HTTP/2 end to end', async () => {
    const { ProxyAgent, request } = await import('undici');
    const { up, target, px, ca } = await h2Service();
    const dispatcher = new ProxyAgent({
      uri: `http://127.0.0.1:${px.port}`,
      token: `Basic ${Buffer.from('workload:test-workload-token').toString('base64')}`,
      requestTls: { ca, servername: 'api.upstream.test' },
      allowH2: true,
    });
    try {
      const res = await request(`https://${target}/undici`, { dispatcher });
      const body = (await res.body.json()) as { path: string };
      expect(res.statusCode).toBe(200);
      expect(body.path).toBe('/undici');
      expect(up.received[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
    } finally {
      await dispatcher.close();
    }
  });
});

describe('X-Clef-Service on an h2 stream', () => {
  async function twoServices() {
    const up = keep(await startH2Upstream());
    const target = `api.upstream.test:${up.port}`;
    const px = keep(
      await startTestProxy({
        services: [
          { name: 'alpha', hosts: [target], auth: { type: 'bearer', secret: 'A' } },
          { name: 'beta', hosts: [target], auth: { type: 'bearer', secret: 'B' } },
        ],
        secrets: { A: 'sk-alpha', B: 'sk-beta' },
      }),
    );
    return { up, target, px, ca: px.proxy.caCertPem };
  }

  it('one value picks that candidate; the header never reaches the upstream', async () => {
    const { up, target, px, ca } = await twoServices();
    const session = await h2Through(px.port, target, ca);
    const reply = await h2Get(session, '/x', { 'x-clef-service': 'beta' });
    session.close();
    expect(reply.status).toBe(200);
    expect(up.received.map((r) => r.headers.authorization)).toEqual(['Bearer sk-beta']);
    expect(up.received[0]!.headers['x-clef-service']).toBeUndefined();
    const [ev] = await finalEvents(px);
    expect(ev).toMatchObject({ service: 'beta', decision: 'inject', status: 200 });
  });

  it('repeated, it is judged as on HTTP/1.1 (the values joined): 403 service_not_allowed, nothing upstream', async () => {
    const { up, target, px, ca } = await twoServices();
    const session = await h2Through(px.port, target, ca);
    const reply = await h2Get(session, '/x', { 'x-clef-service': ['alpha', 'beta'] });
    session.close();
    const h1 = await httpsRequestThrough(
      px.port,
      target,
      { path: '/x', headers: { 'X-Clef-Service': ['alpha', 'beta'] } },
      { ca },
    );
    expect(reply.status).toBe(403);
    expect(reply.headers['x-clef-proxy-error']).toBe('service_not_allowed');
    expect(h1.status).toBe(403);
    expect(h1.headers['x-clef-proxy-error']).toBe('service_not_allowed');
    expect(up.received).toHaveLength(0);
  });
});
