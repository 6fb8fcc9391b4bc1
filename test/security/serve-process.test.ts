/**
 * The security invariants against the real daemon: one spawned `clef-proxy serve` (log_level trace, audit on stdout,
 * `NODE_TLS_REJECT_UNAUTHORIZED=0` in its environment) with the fixture agent, driven through success and the
 * failure paths it can reach; then the `ca` commands on the same CA directory. Everything the processes printed is
 * searched for secrets, tokens, client credentials, the upstream proxy's password and the CA key.
 */
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { basicAuth, connectThrough, connectTo, readAll } from '../helpers/proxy.js';
import {
  cliBuild,
  removeCliBuild,
  runCli,
  type ServeProcess,
  spawnServe,
  stopAllServes,
} from '../helpers/serve.js';
import { httpsRequestThrough } from '../helpers/tls-client.js';
import { fixturePath, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const AGENT_TOKEN = 'sp-agent-token-5a0e';
const WORKLOAD = 'sp-workload-token-e81c';
const WRONG = 'sp-wrong-token-77d0';
const SECRET = 'sp-secret-value-2b6f';
const CRLF = 'sp-crlf-head\r\nX-Evil: sp-crlf-tail';
const CHAIN_PW = 'sp-chain-password-c4d2';
const CLIENT = { authorization: 'Bearer sp-client-auth-90ab', cookie: 'sid=sp-client-cookie-13f7' };
const NEEDLES = [
  SECRET,
  'sp-crlf-head',
  'sp-crlf-tail',
  AGENT_TOKEN,
  WORKLOAD,
  basicAuth(WORKLOAD).slice(6),
  WRONG,
  'sp-client-auth-90ab',
  'sp-client-cookie-13f7',
  'sp-client-query-6d',
  CHAIN_PW,
];

let dir: string;
let caDir: string;
let agent: FixtureAgent;
let good: TestUpstream;
let bad: TestUpstream;
let serve: ServeProcess;
let proxyCa: string;
const t = { good: '', crlf: '', missing: '', bad: '' };

beforeAll(async () => {
  await cliBuild();
  dir = await mkdtemp(join(tmpdir(), 'clef-sec-serve-'));
  caDir = join(dir, 'ca');
  good = await startUpstream({ handler: (req, res) => req.resume().on('end', () => res.end('ok')) });
  bad = await startUpstream({ cert: 'untrusted' });
  Object.assign(t, {
    good: `localhost:${good.port}`,
    crlf: `127.0.0.1:${good.port}`,
    missing: `localhost:${bad.port + 1}`,
    bad: `localhost:${bad.port}`,
  });
  const bearer = (secret: string) => ({ type: 'bearer', secret });
  agent = await startFixtureAgent({
    token: AGENT_TOKEN,
    data: {
      services: [
        { name: 'good', hosts: [t.good, t.bad], auth: bearer('GOOD') },
        { name: 'crlf', hosts: [t.crlf], auth: bearer('CRLF') },
        { name: 'missing', hosts: [t.missing], auth: bearer('NOT_THERE') },
      ],
      secrets: { GOOD: SECRET, CRLF },
    },
  });
  serve = await spawnServe({
    config: {
      listen: '127.0.0.1:0',
      log_level: 'trace',
      agent: { url: agent.url, ready_timeout_ms: 5000, secret_ttl_ms: 0 },
      audit: { sink: 'stdout' },
      upstream_ca_file: fixturePath('ca.crt'),
      // Configured but bypassed for every target here: its password must still never be printed.
      upstream_proxy: { url: `http://chain-user:${CHAIN_PW}@127.0.0.1:9`, no_proxy: 'localhost,127.0.0.1' },
    },
    env: {
      CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN,
      CLEF_PROXY_TOKEN: WORKLOAD,
      CLEF_PROXY_CA_DIR: caDir,
      NODE_TLS_REJECT_UNAUTHORIZED: '0',
    },
  });
  proxyCa = await readFile(join(caDir, 'ca.crt'), 'utf8');
}, 120_000);

afterAll(async () => {
  await stopAllServes();
  await agent?.stop();
  await good?.close();
  await bad?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
  await removeCliBuild();
});

function send(target: string, path = '/x?token=sp-client-query-6d') {
  return httpsRequestThrough(
    serve.port,
    target,
    { path, headers: CLIENT },
    { ca: proxyCa, auth: basicAuth(WORKLOAD) },
  );
}

async function keyNeedles(): Promise<string[]> {
  const pem = await readFile(join(caDir, 'ca.key'), 'utf8');
  const d = createPrivateKey(pem).export({ format: 'jwk' }).d ?? 'missing';
  const first = pem.split('\n').find((l) => l !== '' && !l.startsWith('-----')) ?? 'missing';
  return ['PRIVATE KEY', first, d, Buffer.from(d, 'base64url').toString('base64')];
}

describe('upstream TLS is verified by serve even with NODE_TLS_REJECT_UNAUTHORIZED=0', () => {
  it('baseline: the trusted upstream works and gets the credential', async () => {
    expect((await send(t.good)).status).toBe(200);
    expect(good.received.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it('an untrusted upstream: 502 upstream_tls_error and zero requests received', async () => {
    const res = await send(t.bad);
    expect(res.status).toBe(502);
    expect(res.headers['x-clef-proxy-error']).toBe('upstream_tls_error');
    expect(bad.received).toHaveLength(0);
    // Node itself saw the variable: it warns on the first TLS connect made with it in effect.
    expect(serve.stderrLines.join('\n')).toContain('NODE_TLS_REJECT_UNAUTHORIZED');
  });
});

describe('serve prints no secret, token, client credential, proxy password or CA key', () => {
  it('drives the failure paths serve can reach (each answers as expected)', async () => {
    expect((await send(t.crlf)).headers['x-clef-proxy-error']).toBe('invalid_credential');
    expect((await send(t.missing)).headers['x-clef-proxy-error']).toBe('credential_unavailable');
    for (const secrets of ['garbage', 'unauthorized', 'fail'] as const) {
      await agent.setMode({ secrets });
      expect((await send(t.good)).status).toBe(503);
    }
    await agent.setMode({ secrets: 'ok' });
    const wrong = await connectThrough(serve.port, t.good, basicAuth(WRONG));
    wrong.socket.destroy();
    expect(wrong.status).toBe(407);
    const plain = await connectTo(serve.port);
    plain.write(
      `GET http://${t.good}/ HTTP/1.1\r\nHost: ${t.good}\r\nProxy-Authorization: ${basicAuth(WORKLOAD)}\r\n`,
    );
    plain.write(`Authorization: ${CLIENT.authorization}\r\nConnection: close\r\n\r\n`);
    expect((await readAll(plain)).toString('latin1')).toMatch(/^HTTP\/1\.1 403 /);
    await serve.waitForAudit((e) => e.event === 'request' && 'reason' in e && e.reason === 'https_required');
  });

  it('after a SIGTERM drain (exit 0), nothing it printed holds any of them', async () => {
    serve.kill('SIGTERM');
    expect((await serve.exit).code).toBe(0);
    const out = serve.stdoutLines.join('\n');
    const err = serve.stderrLines.join('\n');
    // The captures are live: audit lines for the run and the operational warnings are there.
    expect(serve.stdoutLines.filter((l) => l.includes('"schema_version":1')).length).toBeGreaterThanOrEqual(
      9,
    );
    expect(err).toContain('"msg":"secret unavailable"');
    for (const needle of [...NEEDLES, ...(await keyNeedles())]) {
      expect(out, needle).not.toContain(needle);
      expect(err, needle).not.toContain(needle);
    }
  });
});

describe('the CA key stays in the CA directory, 0600, through serve and the ca commands', () => {
  const posix = process.platform !== 'win32';

  it.skipIf(!posix)('serve created the CA with the key 0600 in a 0700 directory', async () => {
    expect((await stat(join(caDir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(caDir)).mode & 0o777).toBe(0o700);
  });

  it('ca export (every format) and ca regenerate print no key material; the key is still 0600', async () => {
    const env = { CLEF_PROXY_CA_DIR: caDir };
    const before = await keyNeedles();
    for (const format of ['pem', 'der', 'der-base64']) {
      const r = await runCli(['ca', 'export', '--format', format], { env });
      expect(r.code).toBe(0);
      for (const needle of before) expect(r.stdout + r.stderr, needle).not.toContain(needle);
    }
    const regen = await runCli(['ca', 'regenerate', '--confirm'], { env });
    expect(regen.code).toBe(0);
    expect(regen.stdout).toContain('SHA-256 fingerprint:');
    for (const needle of [...before, ...(await keyNeedles())])
      expect(regen.stdout + regen.stderr).not.toContain(needle);
    if (posix) expect((await stat(join(caDir, 'ca.key'))).mode & 0o777).toBe(0o600);
  });
});
