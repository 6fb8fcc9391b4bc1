// The peer for bench/peer.mjs: http-mitm-proxy 1.1.0 (a Node MITM proxy, github.com/joeferner/node-http-mitm-proxy)
// doing clef-proxy's job on the bench upstream: terminate the CONNECT tunnel's TLS with a leaf from its own CA, add
// `Authorization: Bearer <secret>` to requests for the bench service's hosts, forward upstream over verified TLS.
// It is installed on demand into <repo>/.scratch/bench-peers (git-ignored; never a dependency of the project).
// This file is both the parent's helper (ensureMitmProxy, startMitmPeer) and, run directly, the peer's child.
//
// How the peer is set up, so the comparison is fair:
//   - upstream keep-alive: its own https.Agent({ keepAlive: true }) (lifo, no socket cap: Node 20 defaults), and
//     `keepAlive: true` so it does not answer the client with `Connection: close` (its default without it);
//   - upstream TLS verified: http-mitm-proxy never sets rejectUnauthorized, and the agent sets it true explicitly;
//     the fixture CA reaches it through NODE_EXTRA_CA_CERTS (added to Node's roots, as clef-proxy's
//     upstream_ca_file is);
//   - its CA and leaves (node-forge, RSA 2048, valid one year) live in <scratch>/ca and are reused across runs;
//     delete that directory to start over. Clients trust <scratch>/ca/certs/ca.pem.
// It does less than clef-proxy: no Proxy-Authorization check, no agent, no audit log. Its design also costs it:
// each CONNECT becomes a loopback TCP connection from the proxy to an https.Server of its own (one per host).
// The secret reaches the child only in its environment (BENCH_PEER_AUTH); nothing prints it.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, spawnUntil } from './procs.mjs';

const VERSION = '1.1.0';
const SELF = fileURLToPath(import.meta.url);

/**
 * Install http-mitm-proxy@1.1.0 under `dir` unless it is there. Returns undefined on success, else the reason.
 * @param {string} dir  e.g. <repo>/.scratch/bench-peers
 */
export function ensureMitmProxy(dir) {
  const manifest = join(dir, 'node_modules/http-mitm-proxy/package.json');
  const installed = () =>
    existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === VERSION;
  if (installed()) return undefined;
  const args = [
    'install',
    '--prefix',
    dir,
    '--no-save',
    '--no-audit',
    '--no-fund',
    `http-mitm-proxy@${VERSION}`,
  ];
  const r = spawnSync('npm', args, { encoding: 'utf8' });
  if (r.status !== 0 || !installed()) {
    const why = r.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' ');
    return `npm install http-mitm-proxy@${VERSION} failed: ${why}`;
  }
  return undefined;
}

/**
 * Start the peer child on 127.0.0.1 (port 0). `hosts` are the `host:port` authorities that get the credential.
 * @param {{ dir: string, hosts: string[], authorization: string, upstreamCaFile: string }} o
 * @returns {Promise<{ child: import('node:child_process').ChildProcess, port: number, ca: () => string }>}
 */
export async function startMitmPeer(o) {
  const caDir = join(o.dir, 'ca');
  const h = await spawnUntil([SELF], {
    env: cleanEnv({
      BENCH_PEER_MODULES: o.dir,
      BENCH_PEER_CA_DIR: caDir,
      BENCH_PEER_HOSTS: o.hosts.join(','),
      BENCH_PEER_AUTH: o.authorization,
      NODE_EXTRA_CA_CERTS: o.upstreamCaFile,
    }),
    match: (m) => typeof m.port === 'number',
    // The first run generates its CA and a leaf with node-forge (RSA 2048 in JavaScript).
    timeoutMs: 120_000,
  });
  return { child: h.child, port: h.line.port, ca: () => readFileSync(join(caDir, 'certs/ca.pem'), 'utf8') };
}

/** The child: http-mitm-proxy with an onRequest hook that injects the credential for the bench hosts. */
function serve() {
  const require = createRequire(join(process.env.BENCH_PEER_MODULES, 'package.json'));
  const { Proxy: MitmProxy } = require('http-mitm-proxy');
  const hosts = new Set(process.env.BENCH_PEER_HOSTS.split(','));
  const authorization = process.env.BENCH_PEER_AUTH;
  const proxy = new MitmProxy();
  proxy.onRequest((ctx, callback) => {
    // Options are built from the inner request's Host (port 443 when it has none), `proxy-*` headers dropped.
    const opts = ctx.proxyToServerRequestOptions;
    if (ctx.isSSL && hosts.has(`${opts.host}:${opts.port}`)) opts.headers.authorization = authorization;
    callback();
  });
  const options = {
    host: '127.0.0.1',
    port: 0,
    sslCaDir: process.env.BENCH_PEER_CA_DIR,
    keepAlive: true,
    httpsAgent: new Agent({ keepAlive: true, rejectUnauthorized: true }),
  };
  proxy.listen(options, (err) => {
    if (err) throw err;
    process.stdout.write(`${JSON.stringify({ port: proxy.httpPort })}\n`);
  });
}

if (process.argv[1] === SELF) serve();
