#!/usr/bin/env node
// The benchmark's HTTPS upstream, run as a CHILD process so it never shares an event loop with the load client
// or the proxy. Uses the fixture certificate (ECDSA P-256, SAN localhost/127.0.0.1, signed by fixtures/certs/ca.crt).
// Prints one JSON line {"port":N} on stdout once listening; SIGTERM closes it.
//
// Routes (anything else is 404):
//   GET  /small     64-byte body
//   GET  /download  1 MiB body (one preallocated buffer, Content-Length)
//   POST /upload    consumes the body, answers with the byte count
//   POST /upload-early  answers before reading the body, then drains it (an early 401/413 does the same)
//   GET  /_stats    {"connections":N}: TLS connections accepted so far (shows whether the proxy reuses its
//                   upstream connections or opens new ones under keep-alive load)
// Every response carries `x-bench-auth: yes|no`: whether the request arrived with the `Authorization` header the
// bench expects (BENCH_EXPECT_AUTH); with `?expect=yes|no` a mismatch is a 403 instead. The runner checks it once per path, so a proxy run that did not inject is
// caught instead of measured. The expected value is compared, never printed.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { fileURLToPath } from 'node:url';

const certs = fileURLToPath(new URL('../../fixtures/certs/', import.meta.url));
const expected = process.env.BENCH_EXPECT_AUTH ?? '';
const SMALL = Buffer.alloc(64, 'x');
const MIB = Buffer.alloc(1 << 20, 'y');
let connections = 0;

function reply(req, res, status, body) {
  res.writeHead(status, {
    'content-type': 'application/octet-stream',
    'content-length': body.length,
    'x-bench-auth': expected !== '' && req.headers.authorization === expected ? 'yes' : 'no',
  });
  res.end(body);
}

const server = createServer(
  {
    key: readFileSync(`${certs}upstream.key`),
    cert: readFileSync(`${certs}upstream.crt`),
    requestTimeout: 0,
  },
  (req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?');
    // ?expect=yes|no: the credential must (proxy path) or must not (direct path) have arrived (nginx.mjs).
    const expect = /(?:^|&)expect=(yes|no)(?:&|$)/.exec(query)?.[1];
    const auth = expected !== '' && req.headers.authorization === expected ? 'yes' : 'no';
    if (expect !== undefined && expect !== auth) {
      req.resume();
      return reply(req, res, 403, Buffer.from('credential mismatch'));
    }
    if (req.method === 'GET' && path === '/small') return reply(req, res, 200, SMALL);
    if (req.method === 'GET' && path === '/download') return reply(req, res, 200, MIB);
    if (req.method === 'POST' && path === '/upload-early') {
      // Answer at once and drain the body afterwards, as nginx's `return` or an early 401/413 does.
      req.resume();
      return reply(req, res, 200, Buffer.from('ok'));
    }
    if (req.method === 'GET' && path === '/_stats')
      return reply(req, res, 200, Buffer.from(JSON.stringify({ connections })));
    if (req.method === 'POST' && path === '/upload') {
      let n = 0;
      req.on('data', (chunk) => {
        n += chunk.length;
      });
      req.on('end', () => reply(req, res, 200, Buffer.from(String(n))));
      return;
    }
    req.resume();
    reply(req, res, 404, Buffer.from('not found'));
  },
);
// Long enough that neither the client nor the proxy's pool ever sees a connection closed between rounds.
server.keepAliveTimeout = 300_000;
server.on('secureConnection', () => {
  connections += 1;
});
server.on('tlsClientError', () => {});
server.listen(0, process.argv[2] ?? '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
