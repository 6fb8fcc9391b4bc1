#!/usr/bin/env node
// The benchmark's HTTP/2 upstream (node:http2 over TLS with the fixture certificate, h2 only), run as a CHILD
// process like upstream-server.mjs. Prints {"port":N} once listening; SIGTERM closes it. Every GET is answered
// with a small body and `x-bench-auth: yes|no`: whether the request carried the Authorization the bench expects
// (BENCH_EXPECT_AUTH), so a proxy run that did not inject is caught.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { fileURLToPath } from 'node:url';

const certs = fileURLToPath(new URL('../../fixtures/certs/', import.meta.url));
const expected = process.env.BENCH_EXPECT_AUTH ?? '';
const BODY = Buffer.from('ok\n');
const server = createSecureServer({
  key: readFileSync(`${certs}upstream.key`),
  cert: readFileSync(`${certs}upstream.crt`),
  settings: { maxConcurrentStreams: 1000 },
});
server.on('stream', (stream, headers) => {
  stream.on('error', () => {});
  const auth = expected !== '' && headers.authorization === expected ? 'yes' : 'no';
  stream.respond({ ':status': 200, 'content-length': BODY.length, 'x-bench-auth': auth });
  stream.end(BODY);
});
server.on('sessionError', () => {});
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
setTimeout(() => {}, 2 ** 31 - 1);
