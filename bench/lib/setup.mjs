// The benchmark's world: a temp directory, fresh random tokens, the upstream and agent children, and the
// proxy's config file. Tokens and the secret value are generated here and only ever travel in environment
// variables and the agent's data file; nothing prints them.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth } from './connectors.mjs';
import { startH2UpstreamChild } from './h2-streams.mjs';
import { REPO_ROOT, startAgentChild, stopChild } from './procs.mjs';
import { startUpstream } from './upstream.mjs';
import { startWsUpstreamChild } from './ws-echo.mjs';

/** The fixture CA that signed the upstream's certificate: the direct path and the proxy trust it. */
export const FIXTURE_CA_PATH = join(REPO_ROOT, 'fixtures/certs/ca.crt');

/**
 * Start the upstream and the agent, and write the proxy config (listen on port 0, CA in the temp dir, audit to
 * a file there, the fixture CA added for upstream verification). The service is a bearer-token service for
 * `localhost:<upstream port>`, so the proxy path exercises SNI, the leaf cache, injection and the audit log.
 * @param {'auto' | 'node' | 'nginx'} upstreamKind
 * @param {'file' | 'stdout'} auditSink  `stdout` goes to /dev/null (the proxy child's stdout is not piped then)
 * @param {boolean} nativePort  also serve on 127.0.0.1:443 for hey (`nativeOrigin`), when possible
 * @param {boolean} websocket  also start the ws echo upstream (`wsUpstream`), its host one more service host
 * @param {boolean} h2  also start the HTTP/2 upstream (`h2Upstream`), its host one more service host
 */
export async function setUp(
  upstreamKind = 'auto',
  auditSink = 'file',
  nativePort = false,
  websocket = false,
  h2 = false,
) {
  const dir = await mkdtemp(join(tmpdir(), 'clef-bench-'));
  const workloadToken = randomBytes(16).toString('hex');
  const agentToken = randomBytes(16).toString('hex');
  const secret = randomBytes(16).toString('hex');
  const children = [];
  try {
    const upstream = await startUpstream({
      kind: upstreamKind,
      expectAuth: `Bearer ${secret}`,
      dir,
      nativePort,
    });
    children.push(upstream.child);
    const host = `localhost:${upstream.port}`;
    const hosts = upstream.nativePort ? [host, `localhost:${upstream.nativePort}`] : [host];
    const wsUpstream = websocket ? await startWsUpstreamChild(`Bearer ${secret}`) : undefined;
    if (wsUpstream) {
      children.push(wsUpstream.child);
      hosts.push(`localhost:${wsUpstream.port}`);
    }
    const h2Upstream = h2 ? await startH2UpstreamChild(`Bearer ${secret}`) : undefined;
    if (h2Upstream) {
      children.push(h2Upstream.child);
      hosts.push(`localhost:${h2Upstream.port}`);
    }
    const dataPath = join(dir, 'agent-data.json');
    const data = {
      revision: 'bench-1',
      services: [{ name: 'bench', hosts, path_prefix: '/', auth: { type: 'bearer', secret: 'BENCH' } }],
      secrets: { BENCH: secret },
    };
    await writeFile(dataPath, JSON.stringify(data), { mode: 0o600 });
    const agent = await startAgentChild(dataPath, agentToken);
    children.push(agent.child);
    const caDir = join(dir, 'ca');
    const configPath = join(dir, 'proxy.json');
    const config = {
      listen: '127.0.0.1:0',
      ca_dir: caDir,
      agent: { url: agent.url },
      audit: auditSink === 'file' ? { sink: 'file', path: join(dir, 'audit.jsonl') } : { sink: 'stdout' },
      upstream_ca_file: FIXTURE_CA_PATH,
      // The bench upstream is `localhost`: loopback must be allowed through the destination guard.
      egress: { allow_private: ['127.0.0.0/8', '::1/128'] },
      log_level: 'info',
      // Extra top-level config keys for A/B runs, e.g. BENCH_PROXY_CONFIG='{"admin":{"listen":"127.0.0.1:0"}}'.
      ...JSON.parse(process.env.BENCH_PROXY_CONFIG ?? '{}'),
    };
    await writeFile(configPath, JSON.stringify(config, null, 2));
    return {
      dir,
      caDir,
      configPath,
      workloadToken,
      agentToken,
      authorization: basicAuth(workloadToken),
      fixtureCa: readFileSync(FIXTURE_CA_PATH, 'utf8'),
      origin: `https://${host}`,
      /** The same upstream on port 443, for hey (upstream.mjs says why), or undefined with `nativeSkipped`. */
      nativeOrigin: upstream.nativePort ? 'https://localhost' : undefined,
      nativeSkipped: upstream.nativeSkipped,
      upstream,
      wsUpstream,
      h2Upstream,
      upstreamKind: upstream.kind,
      auditSink,
      agent,
      /** The proxy CA's certificate (exists once a proxy has started). */
      proxyCa: () => readFileSync(join(caDir, 'ca.crt'), 'utf8'),
      async tearDown() {
        for (const child of children.reverse()) await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    for (const child of children) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
