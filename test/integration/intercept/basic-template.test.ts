/**
 * `basic` and `template` credentials on real sockets (issue 12): curl, Python `requests` and undici each send their
 * own `Authorization` (or query parameter) and the upstream sees only ours; a missing secret fails closed (503), a
 * rendered value with CR/LF is never sent (502), and the audit event names every secret — names only.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request as undiciRequest } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/audit/events.js';
import { curlAvailable, pythonRequest, pythonRequestsAvailable, runCurl } from '../../helpers/clients.js';
import { basicAuth, startTestProxy, type TestProxy, WORKLOAD_TOKEN } from '../../helpers/proxy.js';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.js';

const SECRETS = { PW: 'pässwörd:1', USER: 'bot-user', KID: 'key-id', KEY: 'k&y v', CRLF: 'x\r\nX-Evil: 1' };

let up: TestUpstream;
let px: TestProxy;
let tmp: string;
let caFile: string;
let target: string;

beforeAll(async () => {
  up = await startUpstream();
  target = `api.upstream.test:${up.port}`;
  const svc = (name: string, path_prefix: string, auth: Record<string, string>) => ({
    name,
    hosts: [target],
    path_prefix,
    auth: auth as never,
  });
  px = await startTestProxy({
    services: [
      svc('basic', '/basic', { type: 'basic', username: 'ci-bot', secret: 'PW' }),
      svc('basic-user', '/basic-user', { type: 'basic', username_secret: 'USER', secret: 'PW' }),
      svc('tmpl', '/tmpl', {
        type: 'template',
        header: 'Authorization',
        template: 'Token {{secret:KID}}:{{secret:KEY}}',
      }),
      svc('sig', '/sig', { type: 'template', query: 'sig', template: 'v1.{{secret:KID}}.{{secret:KEY}}' }),
      svc('missing', '/missing', {
        type: 'template',
        header: 'X-Key',
        template: '{{secret:KID}}-{{secret:NOPE}}',
      }),
      svc('crlf', '/crlf', { type: 'template', header: 'X-Key', template: '{{secret:KID}}{{secret:CRLF}}' }),
    ],
    secrets: SECRETS,
  });
  tmp = await mkdtemp(join(tmpdir(), 'clef-basic-template-'));
  caFile = join(tmp, 'proxy-ca.pem');
  await writeFile(caFile, px.proxy.caCertPem);
});

afterAll(async () => {
  await px?.close();
  await up?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** The one request the upstream received for `path` (path without query). */
function receivedAt(path: string) {
  const found = up.received.filter((r) => r.url.split('?')[0] === path);
  expect(found).toHaveLength(1);
  return found[0]!;
}

function authorizations(rawHeaders: readonly string[]): string[] {
  return rawHeaders.filter((_v, i) => i % 2 === 1 && rawHeaders[i - 1]!.toLowerCase() === 'authorization');
}

async function eventFor(path: string): Promise<RequestEvent> {
  for (let n = 1; ; n++) {
    const events = await px.waitForEvents(n, 10_000);
    const e = events.find((x): x is RequestEvent => x.event === 'request' && x.path === path);
    if (e) return e;
  }
}

describe.skipIf(!curlAvailable)('curl', () => {
  it('basic with a literal user replaces curl’s own -u credentials', async () => {
    const out = await runCurl([
      '--silent',
      '--show-error',
      '--proxy',
      `http://127.0.0.1:${px.port}`,
      '--proxy-user',
      `workload:${WORKLOAD_TOKEN}`,
      '--cacert',
      caFile,
      '-u',
      'me:mine',
      `https://${target}/basic/curl`,
    ]);
    expect([out.code, out.stderr]).toEqual([0, '']);
    expect(authorizations(receivedAt('/basic/curl').rawHeaders)).toEqual([
      `Basic ${b64(`ci-bot:${SECRETS.PW}`)}`,
    ]);
    expect(await eventFor('/basic/curl')).toMatchObject({
      auth_type: 'basic',
      secret_ref: ['PW'],
      status: 200,
    });
  });
});

describe.skipIf(!pythonRequestsAvailable)('Python requests', () => {
  it('basic with the user from a secret replaces requests’ own auth', async () => {
    const answer = await pythonRequest({
      url: `https://${target}/basic-user/py`,
      proxy: px.urlWithAuth,
      ca: caFile,
      auth: ['me', 'mine'],
    });
    expect(answer.status).toBe(200);
    expect(authorizations(receivedAt('/basic-user/py').rawHeaders)).toEqual([
      `Basic ${b64(`${SECRETS.USER}:${SECRETS.PW}`)}`,
    ]);
    expect(await eventFor('/basic-user/py')).toMatchObject({ secret_ref: ['USER', 'PW'] });
  });

  it('a query template replaces the client’s parameter, percent-encoded', async () => {
    const answer = await pythonRequest({
      url: `https://${target}/sig/py?sig=mine&a=1`,
      proxy: px.urlWithAuth,
      ca: caFile,
    });
    expect(answer.status).toBe(200);
    const url = receivedAt('/sig/py').url;
    expect(new URLSearchParams(url.split('?')[1]).getAll('sig')).toEqual([
      `v1.${SECRETS.KID}.${SECRETS.KEY}`,
    ]);
    expect(url).toContain('a=1');
    expect(await eventFor('/sig/py')).toMatchObject({ auth_type: 'template', secret_ref: ['KID', 'KEY'] });
  });
});

describe('undici', () => {
  async function get(path: string, headers: Record<string, string> = {}) {
    const agent = new ProxyAgent({
      uri: `http://127.0.0.1:${px.port}`,
      token: basicAuth(),
      requestTls: { ca: px.proxy.caCertPem },
    });
    try {
      const res = await undiciRequest(`https://${target}${path}`, { dispatcher: agent, headers });
      return {
        status: res.statusCode,
        error: res.headers['x-clef-proxy-error'],
        body: await res.body.text(),
      };
    } finally {
      await agent.close();
    }
  }

  it('a header template renders every placeholder and replaces the client’s header', async () => {
    const res = await get('/tmpl/u', { authorization: 'Bearer mine' });
    expect(res.status).toBe(200);
    expect(authorizations(receivedAt('/tmpl/u').rawHeaders)).toEqual([`Token ${SECRETS.KID}:${SECRETS.KEY}`]);
  });

  it('one secret missing ⇒ 503 credential_unavailable, nothing sent upstream', async () => {
    const before = up.received.length;
    const res = await get('/missing/u');
    expect([res.status, res.error]).toEqual([503, 'credential_unavailable']);
    expect(up.received.length).toBe(before);
    expect(await eventFor('/missing/u')).toMatchObject({
      decision: 'deny',
      reason: 'credential_unavailable',
      secret_ref: ['KID', 'NOPE'],
    });
  });

  it('CR/LF in the rendered value ⇒ 502 invalid_credential, nothing sent upstream', async () => {
    const before = up.received.length;
    const res = await get('/crlf/u');
    expect([res.status, res.error]).toEqual([502, 'invalid_credential']);
    expect(res.body).not.toContain('X-Evil');
    expect(up.received.length).toBe(before);
  });
});

describe('no value in the audit log', () => {
  it('events name secrets, never hold their values', async () => {
    await eventFor('/tmpl/u');
    const text = JSON.stringify(px.events);
    for (const v of [SECRETS.PW, SECRETS.USER, SECRETS.KID, SECRETS.KEY, b64(`ci-bot:${SECRETS.PW}`)]) {
      expect(text).not.toContain(v);
    }
  });
});
