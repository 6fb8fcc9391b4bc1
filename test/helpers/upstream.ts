/**
 * A real HTTPS upstream on loopback for integration tests, using the fixture certificates (fixtures/certs):
 * `trusted` = upstream.crt signed by the fixture CA (SAN localhost, upstream.test, api.upstream.test,
 * other.upstream.test, 127.0.0.1, ::1); `untrusted` = a self-signed certificate.
 * It records every request (method, raw target, headers, body) and counts TLS connections and resumptions.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { createEgressPolicy } from '../../src/net/egress-policy.js';
import { createDestinationGuard, type DestinationGuard } from '../../src/upstream/destination-guard.js';

const CERTS_DIR = fileURLToPath(new URL('../../fixtures/certs/', import.meta.url));

/** Absolute path of a file in fixtures/certs (e.g. `fixturePath('ca.crt')`). */
export function fixturePath(name: string): string {
  return `${CERTS_DIR}${name}`;
}

/** The fixture CA that signed upstream.crt: pass it as `extraCa` / `upstream_ca_file` content. */
export const FIXTURE_CA_PEM: string = readFileSync(fixturePath('ca.crt'), 'utf8');

/** One request as the upstream saw it. */
export interface ReceivedRequest {
  readonly method: string;
  /** The raw request target (path and query) exactly as sent. */
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly headers: IncomingHttpHeaders;
  /** SNI the client sent on this connection; false when none (IP-literal targets). */
  readonly servername: string | false;
  /** The full body; filled in when the request ends (`complete` turns true). */
  body: Buffer;
  complete: boolean;
}

/**
 * A custom response. The request body is recorded by a `'data'` listener attached before the handler runs, so
 * the handler must consume `req` synchronously (`pipe`, `on('data')`) or wait for `req` `'end'` and read
 * `record.body`.
 */
export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, record: ReceivedRequest) => void;

export interface StartUpstreamOptions {
  readonly cert?: 'trusted' | 'untrusted';
  readonly handler?: UpstreamHandler;
  /** Listen address; default 127.0.0.1. */
  readonly host?: string;
}

export interface TestUpstream {
  readonly port: number;
  /** `https://127.0.0.1:<port>` (IPv6 in brackets). */
  readonly url: string;
  readonly received: ReceivedRequest[];
  /** TLS connections that completed a handshake. */
  readonly connections: number;
  /** Of those, how many resumed an earlier session. */
  readonly tlsSessionsResumed: number;
  /** SNI of each completed connection, in order (false = none). */
  readonly servernames: ReadonlyArray<string | false>;
  close(): Promise<void>;
}

/** Default handler: 200 with `{ method, url, headers }` once the body has arrived. */
function echo(req: IncomingMessage, res: ServerResponse): void {
  req.on('end', () => {
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

/** Start an HTTPS upstream on port 0. Call `close()` in afterEach/afterAll. */
export async function startUpstream(opts: StartUpstreamOptions = {}): Promise<TestUpstream> {
  const name = opts.cert === 'untrusted' ? 'untrusted' : 'upstream';
  const server = createServer({
    key: readFileSync(fixturePath(`${name}.key`)),
    cert: readFileSync(fixturePath(`${name}.crt`)),
  });
  const handler = opts.handler ?? echo;
  const received: ReceivedRequest[] = [];
  const servernames: Array<string | false> = [];
  let connections = 0;
  let resumed = 0;

  server.on('secureConnection', (socket: TLSSocket) => {
    connections++;
    if (socket.isSessionReused()) resumed++;
    servernames.push((socket as TLSSocket & { servername?: string | false }).servername || false);
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as TLSSocket & { servername?: string | false };
    const record: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: [...req.rawHeaders],
      headers: req.headers,
      servername: socket.servername || false,
      body: Buffer.alloc(0),
      complete: false,
    };
    received.push(record);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      record.body = Buffer.concat(chunks);
      record.complete = true;
    });
    handler(req, res, record);
  });
  // A client that resets mid-handshake must not fail the test process.
  server.on('tlsClientError', () => {});

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return {
    port,
    url: `https://${urlHost}:${port}`,
    received,
    get connections() {
      return connections;
    },
    get tlsSessionsResumed() {
      return resumed;
    },
    servernames,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A DNS override for the `lookup` hooks: every name resolves to `address`. Handles both lookup shapes Node
 * uses (`all: true` under `autoSelectFamily`, the Node 20 default, and the single-address form).
 */
export function lookupTo(address: string): LookupFunction {
  const family = isIP(address) === 6 ? 6 : 4;
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/**
 * The private ranges the test helpers allow the destination guard to dial: every test upstream listens on loopback,
 * which the guard refuses by default (docs/configuration.md `egress`).
 */
export const TEST_ALLOW_PRIVATE: readonly string[] = Object.freeze(['127.0.0.0/8', '::1/128']);

/** A destination guard that allows loopback and resolves every name with `lookup` (default: to 127.0.0.1). */
export function loopbackGuard(lookup: LookupFunction = lookupTo('127.0.0.1')): DestinationGuard {
  return createDestinationGuard({ policy: createEgressPolicy(TEST_ALLOW_PRIVATE), lookup });
}
