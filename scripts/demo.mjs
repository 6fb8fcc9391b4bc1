#!/usr/bin/env node
// `npm start`: run clef-proxy for real, the way the agent supervises it, on an embedded demo:
//   - a local HTTPS echo upstream declared as a demo service (bearer credential),
//   - a second local HTTPS server listed as a passthrough host,
//   - the fixture agent serving those services and the demo secret,
//   - the proxy as a child process with the tokens in its environment.
// It prints ready-to-paste curl lines and stops everything on Ctrl-C.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rel = (p) => relative(process.cwd(), p) || '.';
const demoDir = join(root, '.demo');
const certs = join(root, 'fixtures', 'certs');

if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) {
  console.error('clef-proxy demo: dist/ is missing; run `npm install` (it builds) or `npm run build` first.');
  process.exit(1);
}
mkdirSync(demoDir, { recursive: true, mode: 0o700 });

/** A small HTTPS server that echoes what it received — so you can see the credential arrive. */
function startEcho(label) {
  const server = createServer(
    { key: readFileSync(join(certs, 'upstream.key')), cert: readFileSync(join(certs, 'upstream.crt')) },
    (req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify(
          {
            upstream: label,
            method: req.method,
            url: req.url,
            headers: req.headers,
            body_bytes: Buffer.concat(chunks).length,
          },
          null,
          2,
        );
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
      });
    },
  );
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function readFirstLine(stream, test) {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: stream });
    rl.on('line', (line) => {
      const v = test(line);
      if (v !== undefined) resolve(v);
    });
    rl.on('close', () => reject(new Error('process ended before it was ready')));
  });
}

const children = [];
const servers = [];
let stopping = false;
function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  console.log('\nclef-proxy demo: stopping…');
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  for (const s of servers) s.close();
  Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null))).then(
    () => process.exit(code),
  );
  setTimeout(() => process.exit(code), 5000).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

const echo = await startEcho('demo-service (credential injected)');
const pass = await startEcho('passthrough (tunnelled blind)');
servers.push(echo, pass);
const echoPort = echo.address().port;
const passPort = pass.address().port;

const agentToken = randomBytes(24).toString('hex');
const workloadToken = randomBytes(16).toString('hex');
const agentData = {
  revision: 'demo-1',
  services: [
    {
      name: 'demo-echo',
      hosts: [`localhost:${echoPort}`],
      path_prefix: '/',
      auth: { type: 'bearer', secret: 'DEMO_API_TOKEN' },
    },
    {
      // A template over two secrets; the longest path_prefix wins over the bearer service above.
      name: 'demo-signed',
      hosts: [`localhost:${echoPort}`],
      path_prefix: '/signed',
      auth: {
        type: 'template',
        header: 'Authorization',
        template: 'Token {{secret:DEMO_KEY_ID}}:{{secret:DEMO_KEY}}',
      },
    },
  ],
  secrets: { DEMO_API_TOKEN: 'demo-secret-123', DEMO_KEY_ID: 'demo-id', DEMO_KEY: 'demo-key-456' },
};
writeFileSync(join(demoDir, 'agent.json'), JSON.stringify(agentData, null, 2));

const agent = spawn(
  process.execPath,
  [join(root, 'fixtures', 'agent', 'agent.mjs'), '--data', join(demoDir, 'agent.json')],
  {
    env: { ...process.env, CLEF_PROXY_AGENT_TOKEN: agentToken },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
children.push(agent);
const agentUrl = await readFirstLine(agent.stdout, (line) => {
  try {
    return JSON.parse(line).url;
  } catch {
    return undefined;
  }
});

const config = {
  listen: '127.0.0.1:0',
  ca_dir: join(demoDir, 'ca'),
  agent: { url: agentUrl },
  passthrough_hosts: [`127.0.0.1:${passPort}`],
  audit: { sink: 'stdout' },
  // The demo upstreams use the test CA in fixtures/certs; real upstreams verify against the system roots.
  upstream_ca_file: join(certs, 'ca.crt'),
  // The demo upstreams run on this machine (`localhost`); the destination guard refuses loopback unless listed.
  egress: { allow_private: ['127.0.0.0/8', '::1/128'] },
  log_level: 'info',
};
writeFileSync(join(demoDir, 'config.json'), JSON.stringify(config, null, 2));

const proxy = spawn(
  process.execPath,
  [join(root, 'bin', 'clef-proxy'), 'serve', '--config', join(demoDir, 'config.json')],
  {
    env: {
      ...process.env,
      CLEF_PROXY_AGENT_TOKEN: agentToken,
      CLEF_PROXY_TOKEN: workloadToken,
      CLEF_PROXY_AGENT_URL: agentUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
children.push(proxy);
proxy.on('exit', (code) => {
  if (!stopping) {
    console.error(`clef-proxy demo: the proxy exited with code ${code}`);
    stop(code ?? 1);
  }
});
createInterface({ input: proxy.stdout }).on('line', (line) => console.log(`audit  ${line}`));
const port = await readFirstLine(proxy.stderr, (line) => {
  if (!line.startsWith('{')) {
    console.error(line);
    return undefined;
  }
  const rec = JSON.parse(line);
  if (rec.msg === 'listening') return rec.port;
  if (rec.level >= 40) console.error(`proxy  ${line}`);
  return undefined;
});
createInterface({ input: proxy.stderr }).on('line', (line) => console.error(`proxy  ${line}`));

const proxyUrl = `http://workload:${workloadToken}@127.0.0.1:${port}`;
const caCert = rel(join(demoDir, 'ca', 'ca.crt'));
console.log(`
clef-proxy is listening on 127.0.0.1:${port} (agent ${agentUrl}).

Through the proxy, with the credential written in by clef-proxy (the echo shows "authorization"):
  curl --proxy ${proxyUrl} --cacert ${caCert} https://localhost:${echoPort}/hello

A template over two secrets (Authorization: Token <id>:<key>), chosen by the longer path_prefix:
  curl --proxy ${proxyUrl} --cacert ${caCert} https://localhost:${echoPort}/signed/hello

A passthrough host, tunnelled blind (the client sees the upstream's own certificate):
  curl --proxy ${proxyUrl} --cacert ${rel(join(certs, 'ca.crt'))} https://127.0.0.1:${passPort}/

Anything else is denied (403 host_not_allowed):
  curl --proxy ${proxyUrl} https://example.com/

Audit events print below as they happen. Ctrl-C stops everything.
`);
