/**
 * Secrets never reach output (SPEC §2, §7, §10): one `clef-proxy serve` run at log_level debug, chained through a
 * Basic-auth forward proxy, with a secret value, the workload and agent tokens, a query-string credential and
 * client-sent Authorization/Cookie headers all in play — then every byte the process wrote (stdout, stderr, the
 * audit file) and every proxy-made error response the client saw is searched for each of them.
 */

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChainProxy, type TestChainProxy } from '../helpers/chain-proxy.js';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { basicAuth, connectThrough, connectTo, readAll } from '../helpers/proxy.js';
import { cliBuild, removeCliBuild, spawnServe, stopAllServes } from '../helpers/serve.js';
import { exchangeRaw, httpsRequestThrough, tlsThrough } from '../helpers/tls-client.js';
import { FIXTURE_CA_PEM, fixturePath, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const V = {
  secret: 'NSO-secret-bearer-7f3a',
  querySecret: 'NSO-secret-query-91bc',
  crlfSecret: 'NSO-crlf-secret-5e1d\r\nX-Evil: 1',
  workloadToken: 'NSO-workload-token-55d1',
  wrongToken: 'NSO-wrong-token-0aa2',
  agentToken: 'NSO-agent-token-e4c9',
  chainPass: 'NSO-chain-pass-b2f8',
  clientAuth: 'Bearer NSO-client-authz-33aa',
  clientCookie: 'session=NSO-client-cookie-77ee',
  clientQuery: 'NSO-client-query-c0de',
};
const CHAIN_USER = 'corpuser';
const b64 = (s: string) => Buffer.from(s).toString('base64');
/** What must never appear: every value (the CRLF one by its first line), and the Basic-encoded credentials. */
const NEEDLES = [
  ...Object.values(V).map((v) => v.split('\r\n')[0]!),
  b64(`workload:${V.workloadToken}`),
  b64(`workload:${V.wrongToken}`),
  b64(`${CHAIN_USER}:${V.chainPass}`),
  'NSO-client-cookie',
  'NSO-client-authz',
];
const CLIENT_HEADERS = { authorization: V.clientAuth, cookie: V.clientCookie };

let upstream: TestUpstream;
let untrusted: TestUpstream;
let plain: Server;
let chain: TestChainProxy;
let agent: FixtureAgent;
let dir: string;

beforeAll(async () => {
  await cliBuild();
  dir = await mkdtemp(join(tmpdir(), 'clef-no-secret-'));
  upstream = await startUpstream();
  untrusted = await startUpstream({ cert: 'untrusted' });
  plain = createServer((req, res) => res.end(`plain ${req.url}`));
  await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
  chain = await startChainProxy({ username: CHAIN_USER, password: V.chainPass });
  const U = upstream.port;
  const svc = (name: string, prefix: string, auth: Record<string, string>, port = U) => ({
    name,
    hosts: [`localhost:${port}`],
    path_prefix: prefix,
    auth,
  });
  agent = await startFixtureAgent({
    token: V.agentToken,
    data: {
      services: [
        svc('bearer', '/b', { type: 'bearer', secret: 'K_BEARER' }),
        svc('query', '/q', { type: 'api_key_query', param: 'api_key', secret: 'K_QUERY' }),
        svc('crlf', '/c', { type: 'bearer', secret: 'K_CRLF' }),
        svc('missing', '/m', { type: 'bearer', secret: 'K_MISSING' }),
        svc('tls', '/', { type: 'bearer', secret: 'K_BEARER' }, untrusted.port),
      ],
      secrets: { K_BEARER: V.secret, K_QUERY: V.querySecret, K_CRLF: V.crlfSecret },
    },
  });
}, 120_000);
afterAll(async () => {
  await stopAllServes();
  await agent?.stop();
  await chain?.close();
  await new Promise((r) => plain?.close(r));
  await untrusted?.close();
  await upstream?.close();
  await removeCliBuild();
  await rm(dir, { recursive: true, force: true });
});

describe('no secret in any output', () => {
  it('stdout, stderr, the audit file and proxy-made error responses hold none of the values', async () => {
    const U = upstream.port;
    const H = (plain.address() as AddressInfo).port;
    const caDir = join(dir, 'ca');
    const auditPath = join(dir, 'audit.log');
    const chainUrl = `http://${CHAIN_USER}:${V.chainPass}@127.0.0.1:${chain.port}`;
    const sp = await spawnServe({
      config: {
        listen: '127.0.0.1:0',
        agent: { url: agent.url, secret_ttl_ms: 0 },
        passthrough_hosts: [`127.0.0.1:${U}`, `127.0.0.1:${H}`],
        audit: { sink: 'file', path: auditPath },
        upstream_ca_file: fixturePath('ca.crt'),
        log_level: 'debug',
      },
      env: {
        CLEF_PROXY_TOKEN: V.workloadToken,
        CLEF_PROXY_AGENT_TOKEN: V.agentToken,
        CLEF_PROXY_CA_DIR: caDir,
        HTTPS_PROXY: chainUrl,
        HTTP_PROXY: chainUrl,
      },
    });
    const ca = await readFile(join(caDir, 'ca.crt'), 'utf8');
    const auth = basicAuth(V.workloadToken);
    const errors: string[] = [];
    const get = async (path: string) => {
      const res = await httpsRequestThrough(
        sp.port,
        `localhost:${U}`,
        { path, headers: CLIENT_HEADERS },
        { ca, auth },
      );
      if (res.headers['x-clef-proxy-error'])
        errors.push(JSON.stringify(res.rawHeaders) + res.body.toString('latin1'));
      return res;
    };

    // Injection works and replaces what the client sent: the values really were in play.
    const bearer = await get(`/b/x?api_key=${V.clientQuery}`);
    expect(bearer.json<{ headers: Record<string, string> }>().headers).toMatchObject({
      authorization: `Bearer ${V.secret}`,
      cookie: V.clientCookie,
    });
    const query = await get(`/q/x?api_key=${V.clientQuery}&n=1`);
    const sent = new URL(query.json<{ url: string }>().url, 'https://x');
    expect([sent.searchParams.getAll('api_key'), sent.searchParams.get('n')]).toEqual([[V.querySecret], '1']);
    expect([(await get('/c')).status, (await get('/m')).status]).toEqual([502, 503]);
    const tlsFail = await httpsRequestThrough(
      sp.port,
      `localhost:${untrusted.port}`,
      { path: '/', headers: CLIENT_HEADERS },
      { ca, auth },
    );
    expect(tlsFail.headers['x-clef-proxy-error']).toBe('upstream_tls_error');
    errors.push(tlsFail.body.toString('latin1'));

    // Refusals before and inside TLS, with credentials on the wire.
    const wrong = await connectThrough(sp.port, `localhost:${U}`, basicAuth(V.wrongToken));
    errors.push(wrong.head + (await readAll(wrong.socket)).toString('latin1'));
    expect(wrong.status).toBe(407);
    const inner = await tlsThrough(sp.port, `localhost:${U}`, { ca, auth });
    const bad = await exchangeRaw(
      inner,
      `GET /b?api_key=${V.clientQuery} HTTP/1.1\r\nHost: localhost:${U}\r\nAuthorization: ${V.clientAuth}\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n`,
    );
    expect(bad.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
    errors.push(bad.toString('latin1'));
    // A client that resets its connection: a debug-level socket error line, so the debug stream is really in the haystack.
    // After the 200 the proxy is reading (waiting for the ClientHello), so the reset surely reaches a read.
    const { socket: reset } = await connectThrough(sp.port, `localhost:${U}`, auth);
    reset.resetAndDestroy();
    await sp.waitForLog((r) => r.level === 20 && r.msg === 'client socket error');

    // Through the chain: a blind tunnel and a forwarded http:// request.
    const t = await httpsRequestThrough(
      sp.port,
      `127.0.0.1:${U}`,
      { path: `/t?api_key=${V.clientQuery}`, headers: { ...CLIENT_HEADERS, connection: 'keep-alive' } },
      { ca: FIXTURE_CA_PEM, auth },
    );
    expect(t.status).toBe(200);
    const s = await connectTo(sp.port);
    s.write(
      `GET http://127.0.0.1:${H}/p?api_key=${V.clientQuery} HTTP/1.1\r\nHost: 127.0.0.1:${H}\r\nProxy-Authorization: ${auth}\r\nAuthorization: ${V.clientAuth}\r\nCookie: ${V.clientCookie}\r\nConnection: close\r\n\r\n`,
    );
    expect((await readAll(s)).toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(chain.connects).toEqual(
      expect.arrayContaining([`localhost:${U}`, `127.0.0.1:${U}`, `127.0.0.1:${H}`]),
    );

    // The daemon gives memory back after a quiet spell (12–18 s after the last request), and says so at debug level.
    await sp.waitForLog((r) => r.level === 20 && r.msg === 'quiet spell: memory trimmed', 30_000);

    sp.kill('SIGHUP');
    await sp.waitForLog((r) => r.msg === 'CA reloaded');
    sp.kill('SIGTERM');
    expect((await sp.exit).code).toBe(0);

    const audit = await readFile(auditPath, 'utf8');
    const stderr = sp.stderrLines.join('\n');
    expect(audit.split('\n').filter(Boolean)).toHaveLength(9);
    expect(errors).toHaveLength(5);
    const outputs = { stdout: sp.stdoutLines.join('\n'), stderr, audit, errors: errors.join('\n') };
    for (const [where, text] of Object.entries(outputs)) {
      for (const needle of NEEDLES) expect(text.includes(needle), `${where} contains ${needle}`).toBe(false);
    }
  });
});
