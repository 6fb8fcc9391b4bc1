// The soak's HTTPS upstream, run as its own process (`node test/soak/upstream.mjs`), so its CPU never counts
// against the proxy's or the clients'. Serves the fixture certificate (SAN localhost, 127.0.0.1) and checks
// that every intercepted request arrives with exactly the credential its service injects; a plain
// (passthrough) request must arrive with none. A plain-HTTP control port answers GET /stats.
// Env: SOAK_SECRETS = JSON {bearer, header, query}; SOAK_UPSTREAM_IDLE_MS: idle keep-alive connections are closed
// after this long (default 5 s), so the proxy's pool meets sockets the upstream has already closed.
// Prints one line {"port":N,"control":M} once listening.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:https';

const certs = new URL('../../fixtures/certs/', import.meta.url);
const secrets = JSON.parse(process.env.SOAK_SECRETS ?? '{}');
const stats = { requests: 0, rejected: 0, tcp: 0, tls_sni: 0, tls_no_sni: 0 };
const SLOW_CHUNKS = 64;
const CHUNK = Buffer.alloc(4096, 0x73);

/** The credential check per path family (SPEC §5 auth types). */
function credentialOk(req, url) {
  const family = url.pathname.split('/')[1];
  const auth = req.headers.authorization;
  const key = req.headers['x-api-key'];
  const query = url.searchParams.get('api_key');
  if (family === 'bearer') return auth === `Bearer ${secrets.bearer}` && key === undefined && query === null;
  if (family === 'header') return key === `Key ${secrets.header}` && auth === undefined && query === null;
  if (family === 'query') return query === secrets.query && auth === undefined && key === undefined;
  if (family === 'plain') return auth === undefined && key === undefined && query === null;
  return false;
}

/** A body that takes ~640 ms, so a client can abort it half-way. */
function slow(res) {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  let sent = 0;
  const timer = setInterval(() => {
    if (res.destroyed || sent === SLOW_CHUNKS) {
      clearInterval(timer);
      if (!res.destroyed) res.end();
      return;
    }
    sent++;
    res.write(CHUNK);
  }, 10);
  res.once('close', () => clearInterval(timer));
}

const server = createServer({
  key: readFileSync(new URL('upstream.key', certs)),
  cert: readFileSync(new URL('upstream.crt', certs)),
  keepAliveTimeout: Number(process.env.SOAK_UPSTREAM_IDLE_MS ?? 5_000),
});
server.on('connection', () => {
  stats.tcp++;
});
server.on('secureConnection', (socket) => {
  // The proxy's own upstream connections carry SNI `localhost`; passthrough tunnels to 127.0.0.1 carry none. A
  // tunnel whose client gave up mid-handshake never gets here, so tunnels = tcp − tls_sni.
  if (socket.servername) stats.tls_sni++;
  else stats.tls_no_sni++;
});
server.on('tlsClientError', () => {});
server.on('request', (req, res) => {
  stats.requests++;
  req.on('error', () => {});
  res.on('error', () => {});
  req.resume();
  const url = new URL(req.url ?? '/', 'https://upstream.invalid');
  if (!credentialOk(req, url)) {
    stats.rejected++;
    res.writeHead(401, { 'content-type': 'text/plain' });
    res.end('wrong credential');
    return;
  }
  if (url.pathname.endsWith('/slow')) return slow(res);
  if (url.pathname.endsWith('/probe')) return res.end('p');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`ok ${url.pathname}`);
});

const control = createHttpServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(stats));
});

await new Promise((r) => server.listen(0, '127.0.0.1', r));
await new Promise((r) => control.listen(0, '127.0.0.1', r));
process.stdout.write(`${JSON.stringify({ port: server.address().port, control: control.address().port })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close();
    control.close();
    process.exit(0);
  });
}
