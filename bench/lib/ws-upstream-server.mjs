#!/usr/bin/env node
// The benchmark's WebSocket echo upstream (the `ws` package over HTTPS with the fixture certificate), run as a
// CHILD process like upstream-server.mjs. Prints {"port":N} once listening; SIGTERM closes it.
// Every message is echoed back as it came. The 101 carries `x-bench-auth: yes|no`: whether the upgrade arrived
// with the Authorization the bench expects (BENCH_EXPECT_AUTH), so a proxy run that did not inject is caught.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const certs = fileURLToPath(new URL('../../fixtures/certs/', import.meta.url));
const expected = process.env.BENCH_EXPECT_AUTH ?? '';
const server = createServer({
  key: readFileSync(`${certs}upstream.key`),
  cert: readFileSync(`${certs}upstream.crt`),
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('headers', (headers, req) => {
  headers.push(`x-bench-auth: ${expected !== '' && req.headers.authorization === expected ? 'yes' : 'no'}`);
});
wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.on('tlsClientError', () => {});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.once('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  server.close(() => process.exit(0));
});
