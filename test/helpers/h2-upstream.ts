/**
 * An HTTP/2 upstream on loopback (fixture certificate, ALPN `h2` and, unless `h1: false`, `http/1.1`), recording each
 * stream's headers and body and counting sessions. Handlers use node:http2's core stream API, so a test can send
 * trailers, reset a stream, or GOAWAY a session.
 */
import { readFileSync } from 'node:fs';
import {
  createSecureServer,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
  type Settings,
} from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fixturePath } from './upstream.js';

export interface H2Received {
  readonly headers: IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
  /** The stream was reset or closed before its request body ended. */
  aborted: boolean;
}

export type H2Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, record: H2Received) => void;

export interface StartH2UpstreamOptions {
  readonly handler?: H2Handler;
  readonly settings?: Settings;
  readonly cert?: 'trusted' | 'untrusted';
}

export interface TestH2Upstream {
  readonly port: number;
  readonly received: H2Received[];
  readonly sessions: ServerHttp2Session[];
  /** Most streams seen open at once on one session. */
  readonly maxConcurrent: number;
  close(): Promise<void>;
}

/** Default: 200 JSON `{ method, path, headers }` once the request body has ended. */
export function echoH2(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, record: H2Received): void {
  stream.on('end', () => {
    const body = JSON.stringify({
      method: headers[':method'],
      path: headers[':path'],
      headers,
      body: record.body.toString(),
    });
    stream.respond({ ':status': 200, 'content-type': 'application/json' });
    stream.end(body);
  });
}

export async function startH2Upstream(opts: StartH2UpstreamOptions = {}): Promise<TestH2Upstream> {
  const name = opts.cert === 'untrusted' ? 'untrusted' : 'upstream';
  const server = createSecureServer({
    key: readFileSync(fixturePath(`${name}.key`)),
    cert: readFileSync(fixturePath(`${name}.crt`)),
    ...(opts.settings ? { settings: opts.settings } : {}),
  });
  const received: H2Received[] = [];
  const sessions: ServerHttp2Session[] = [];
  const open = new Map<object, number>();
  let maxConcurrent = 0;
  const handler = opts.handler ?? echoH2;
  server.on('session', (s: ServerHttp2Session) => {
    sessions.push(s);
    s.on('error', () => {});
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const session = stream.session!;
    const n = (open.get(session) ?? 0) + 1;
    open.set(session, n);
    maxConcurrent = Math.max(maxConcurrent, n);
    const record: H2Received = { headers, body: Buffer.alloc(0), complete: false, aborted: false };
    received.push(record);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      record.body = Buffer.concat(chunks);
      record.complete = true;
    });
    stream.on('error', () => {});
    stream.once('close', () => {
      open.set(session, (open.get(session) ?? 1) - 1);
      if (!record.complete || stream.rstCode !== 0) record.aborted = true;
    });
    handler(stream, headers, record);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    sessions,
    get maxConcurrent() {
      return maxConcurrent;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
