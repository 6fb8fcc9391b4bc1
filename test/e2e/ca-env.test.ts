/**
 * `clef-proxy ca env` end to end (issue 13): after `eval "$(clef-proxy ca env --proxy-url …)"` in bash, curl,
 * Python `requests`, Node `https.get` and `git ls-remote` succeed through a running `serve` — on an intercepted host
 * (trusting our CA) and on a passthrough host whose certificate chains to a root of the "system" bundle (the test
 * upstream CA in a temporary bundle, injected with CLEF_PROXY_SYSTEM_BUNDLE). Also: exit codes, the password never
 * printed, and `ca regenerate` rewriting the bundle beside the CA and naming one written elsewhere as stale.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FixtureAgent, startFixtureAgent } from '../helpers/fixture-agent.js';
import { cliBuild, runCli, type ServeProcess, spawnServe, stopAllServes } from '../helpers/serve.js';
import { FIXTURE_CA_PEM, fixturePath, startUpstream, type TestUpstream } from '../helpers/upstream.js';

const TOKEN = 'ca-env-workload-token';
const SECRET = 'ca-env-service-secret';
let dir: string;
let caDir: string;
let systemBundle: string;
let repoRoot: string;
let agent: FixtureAgent;
let svc: TestUpstream;
let pass: TestUpstream;
let serve: ServeProcess;

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Serve `repo.git` by `git http-backend` as a CGI (protocol v0: GET info/refs is all ls-remote needs). */
function gitOrEcho(req: IncomingMessage, res: ServerResponse): void {
  const [path = '', query = ''] = (req.url ?? '').split('?');
  if (!path.startsWith('/repo.git/')) {
    req.resume();
    req.on('end', () =>
      res.end(JSON.stringify({ url: req.url, authorization: req.headers.authorization ?? null })),
    );
    return;
  }
  const cgi = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '',
      GIT_PROJECT_ROOT: repoRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: path,
      QUERY_STRING: query,
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      REMOTE_ADDR: '127.0.0.1',
    },
  });
  req.pipe(cgi.stdin);
  const out: Buffer[] = [];
  cgi.stdout.on('data', (c: Buffer) => out.push(c));
  cgi.on('close', () => {
    const all = Buffer.concat(out);
    const end = all.indexOf('\r\n\r\n') >= 0 ? all.indexOf('\r\n\r\n') : all.indexOf('\n\n');
    const sep = all[end] === 13 ? 4 : 2;
    let status = 200;
    for (const line of all.subarray(0, end).toString().split(/\r?\n/)) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
      else if (name) res.setHeader(name, value);
    }
    res.statusCode = status;
    res.end(all.subarray(end + sep));
  });
}

beforeAll(async () => {
  await cliBuild();
  dir = await mkdtemp(join(tmpdir(), 'clef ca-env e2e '));
  caDir = join(dir, "ca dir 'quoted'");
  systemBundle = join(dir, 'system bundle.pem');
  await writeFile(systemBundle, FIXTURE_CA_PEM);
  repoRoot = join(dir, 'git');
  await mkdir(repoRoot);
  if (has('git')) {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: repoRoot, stdio: 'ignore' });
    git('init', '-q', '--bare', 'repo.git');
    git('init', '-q', 'work');
    git(
      '-C',
      'work',
      '-c',
      'user.email=t@example.com',
      '-c',
      'user.name=t',
      'commit',
      '-q',
      '--allow-empty',
      '-m',
      'x',
    );
    git('-C', 'work', 'push', '-q', '../repo.git', 'HEAD:refs/heads/main');
  }
  svc = await startUpstream({ handler: gitOrEcho });
  pass = await startUpstream({ handler: gitOrEcho });
  agent = await startFixtureAgent({
    data: {
      services: [{ name: 'svc', hosts: [`localhost:${svc.port}`], auth: { type: 'bearer', secret: 'K' } }],
      secrets: { K: SECRET },
    },
  });
  serve = await spawnServe({
    config: {
      listen: '127.0.0.1:0',
      agent: { url: agent.url },
      passthrough_hosts: [`localhost:${pass.port}`],
      upstream_ca_file: fixturePath('ca.crt'),
      log_level: 'warn',
    },
    env: { CLEF_PROXY_TOKEN: TOKEN, CLEF_PROXY_AGENT_TOKEN: agent.token, CLEF_PROXY_CA_DIR: caDir },
  });
}, 120_000);

afterAll(async () => {
  await stopAllServes();
  await agent?.stop();
  await svc?.close();
  await pass?.close();
  await rm(dir, { recursive: true, force: true });
});

const caEnvVars = () => ({ CLEF_PROXY_CA_DIR: caDir, CLEF_PROXY_SYSTEM_BUNDLE: systemBundle });

let captured: string | undefined;

/**
 * Run `script` in bash after evaluating `ca env`'s output, as a user would. `live`: the literal
 * `eval "$(clef-proxy ca env …)"`; otherwise the output of one such run, captured once (the CLI is slow to start on a
 * loaded machine) and evaluated the same way.
 */
async function afterEval(script: string, live = false): Promise<string> {
  const { bin } = await cliBuild();
  const quoted = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const cmd = [process.execPath, bin, 'ca', 'env', '--proxy-url', `http://workload@127.0.0.1:${serve.port}`]
    .map(quoted)
    .join(' ');
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    CLEF_PROXY_TOKEN: TOKEN,
    ...caEnvVars(),
  };
  if (!live && captured === undefined) captured = await bash(`${cmd}`, env);
  const evaluate = live ? `eval "$(${cmd})"` : 'eval "$CLEF_ENV_OUT"';
  return bash(`set -e; ${evaluate}; ${script}`, { ...env, CLEF_ENV_OUT: captured ?? '' });
}

function bash(script: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
  });
}

const NODE_GET = `
const http = require('node:http'), https = require('node:https'), tls = require('node:tls');
const target = new URL(process.argv[2]);
const proxy = new URL(process.env.HTTPS_PROXY);
const auth = 'Basic ' + Buffer.from(decodeURIComponent(proxy.username) + ':' + decodeURIComponent(proxy.password)).toString('base64');
http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: target.host,
  headers: { 'Proxy-Authorization': auth } }).on('connect', (res, socket) => {
  if (res.statusCode !== 200) { console.error('CONNECT ' + res.statusCode); process.exit(1); }
  https.get(target, { createConnection: () => tls.connect({ socket, servername: target.hostname }) }, (r) => {
    let body = ''; r.on('data', (c) => body += c); r.on('end', () => { console.log(r.statusCode + ' ' + body); socket.destroy(); });
  }).on('error', (e) => { console.error(e.message); process.exit(1); });
}).end();`;

describe('ca env: clients after eval', { timeout: 180_000 }, () => {
  const targets = () =>
    [
      ['intercepted', `https://localhost:${svc.port}/x`, `Bearer ${SECRET}`],
      ['passthrough', `https://localhost:${pass.port}/x`, null],
    ] as const;

  it('curl', async () => {
    if (!has('curl')) return console.warn('ca-env.test: skipping curl: not installed');
    for (const [, url, authorization] of targets()) {
      const out = await afterEval(`curl -sS --fail '${url}'`, true);
      expect(JSON.parse(out)).toEqual({ url: '/x', authorization });
    }
  });

  it('Python requests', async () => {
    if (spawnSync('python3', ['-c', 'import requests']).status !== 0)
      return console.warn('ca-env.test: skipping Python: requests is not installed');
    for (const [, url, authorization] of targets()) {
      const out = await afterEval(
        `python3 -c 'import requests,sys; r=requests.get(sys.argv[1]); r.raise_for_status(); print(r.text)' '${url}'`,
      );
      expect(JSON.parse(out)).toEqual({ url: '/x', authorization });
    }
  });

  it('Node https.get (the passthrough host with --use-openssl-ca, so SSL_CERT_FILE is the store)', async () => {
    const file = join(dir, 'get.cjs');
    await writeFile(file, NODE_GET);
    const script = (url: string, flags: string) =>
      `node ${flags} '${file.replaceAll("'", `'\\''`)}' '${url}'`;
    const [intercepted, passthrough] = targets();
    // NODE_EXTRA_CA_CERTS (our CA alone) is added to Node's own roots: enough for the intercepted host.
    const a = await afterEval(script(intercepted[1], ''));
    expect(a.startsWith('200 ')).toBe(true);
    expect(JSON.parse(a.slice(4))).toEqual({ url: '/x', authorization: intercepted[2] });
    // Node's bundled roots do not hold the simulated system root; with --use-openssl-ca Node reads SSL_CERT_FILE.
    const b = await afterEval(script(passthrough[1], '--use-openssl-ca'));
    expect(JSON.parse(b.slice(4))).toEqual({ url: '/x', authorization: null });
  });

  it('git ls-remote', async () => {
    if (!has('git')) return console.warn('ca-env.test: skipping git: not installed');
    for (const [, url] of targets()) {
      const repo = url.replace('/x', '/repo.git');
      const out = await afterEval(`git -c protocol.version=0 ls-remote '${repo}'`);
      expect(out).toMatch(/^[0-9a-f]{40}\trefs\/heads\/main$/m);
    }
  });
});

describe('ca env: the command', { timeout: 120_000 }, () => {
  it('writes bundle.pem beside the CA (0644): system roots, the OS bundle and our CA, each once', async () => {
    const run = await runCli(['ca', 'env'], { env: caEnvVars() });
    expect(run.code).toBe(0);
    const bundle = join(caDir, 'bundle.pem');
    expect(run.stdout).toContain(`export SSL_CERT_FILE='${bundle.replaceAll("'", `'\\''`)}'`);
    expect((await stat(bundle)).mode & 0o777).toBe(0o644);
    const text = await readFile(bundle, 'utf8');
    const ders = text
      .match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)!
      .map((p) => new X509Certificate(p).raw.toString('hex'));
    expect(new Set(ders).size).toBe(ders.length);
    const ours = new X509Certificate(await readFile(join(caDir, 'ca.crt'))).raw.toString('hex');
    expect(ders.at(-1)).toBe(ours);
    expect(ders).toContain(new X509Certificate(FIXTURE_CA_PEM).raw.toString('hex'));
  });

  it('never prints the --proxy-url password', async () => {
    const run = await runCli(['ca', 'env', '--proxy-url', 'http://me:hunter2-pw@127.0.0.1:3128'], {
      env: caEnvVars(),
    });
    expect(run.code).toBe(0);
    expect(run.stdout + run.stderr).not.toContain('hunter2-pw');
    expect(run.stdout).toContain(`export HTTPS_PROXY='http://me:'"\${CLEF_PROXY_TOKEN}"'@127.0.0.1:3128'`);
    expect(run.stderr).toContain('the password in --proxy-url was not printed');
  });

  it.each([
    [['ca', 'env', '--shell', 'tcsh']],
    [['ca', 'env', '--proxy-url', 'ftp://127.0.0.1:1']],
    [['ca', 'env', '--proxy-url', 'http://127.0.0.1:1/path']],
  ])('bad flags are exit 2: %j', async (args) => {
    const run = await runCli(args, { env: caEnvVars() });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
  });

  it('a corrupt CA is exit 5, and no bundle is written', async () => {
    const bad = join(dir, 'bad-ca');
    await mkdir(bad, { mode: 0o700 });
    await writeFile(join(bad, 'ca.crt'), 'not a certificate', { mode: 0o644 });
    await writeFile(join(bad, 'ca.key'), 'not a key', { mode: 0o600 });
    const run = await runCli(['ca', 'env'], { env: { CLEF_PROXY_CA_DIR: bad } });
    expect(run.code).toBe(5);
    await expect(stat(join(bad, 'bundle.pem'))).rejects.toThrow();
  });

  it('ca regenerate rewrites bundle.pem beside the CA and names a bundle written elsewhere as stale', async () => {
    const own = join(dir, 'regen-ca');
    const elsewhere = join(dir, "other place's bundle.pem");
    const env = { CLEF_PROXY_CA_DIR: own, CLEF_PROXY_SYSTEM_BUNDLE: systemBundle };
    expect((await runCli(['ca', 'env'], { env })).code).toBe(0);
    expect((await runCli(['ca', 'env', '--bundle', elsewhere], { env })).code).toBe(0);
    const regen = await runCli(['ca', 'regenerate', '--confirm'], { env });
    expect(regen.code).toBe(0);
    expect(regen.stdout).toContain(`Bundle rewritten: ${join(own, 'bundle.pem')}`);
    expect(regen.stdout).toContain(`Stale bundle (holds the old CA): ${elsewhere}`);
    const newCa = new X509Certificate(await readFile(join(own, 'ca.crt'))).raw.toString('base64');
    const flat = (await readFile(join(own, 'bundle.pem'), 'utf8')).replace(/\s|-----[A-Z ]+-----/g, '');
    expect(flat).toContain(newCa);
    expect((await readFile(elsewhere, 'utf8')).replace(/\s|-----[A-Z ]+-----/g, '')).not.toContain(newCa);
  });
});
