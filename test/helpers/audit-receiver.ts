/**
 * A local audit receiver for the webhook and OTLP sink tests: HTTPS with the fixture certificates (trusted via
 * fixtures/certs/ca.crt, or the self-signed `untrusted` pair), or plain HTTP. Each request is answered by the next
 * scripted behaviour — a status, a connection reset, a delay, a hang until released — and then by `ok`. Only
 * batches answered 2xx count as accepted, so "every event exactly once" is checked against what was acknowledged.
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { fixturePath } from './upstream.js';

/** What the receiver does with one request. */
export type Behaviour =
  | { readonly status: number; readonly retryAfter?: string; readonly body?: string }
  | { readonly reset: true }
  | { readonly delayMs: number }
  | { readonly hang: Promise<void> };

/** One POST the receiver read in full. */
export interface ReceivedBatch {
  readonly headers: IncomingHttpHeaders;
  readonly url: string;
  readonly body: Buffer;
  /** True when it was answered 2xx. */
  readonly accepted: boolean;
}

export interface AuditReceiver {
  readonly url: string;
  readonly batches: ReceivedBatch[];
  /** Requests whose body has been read, answered or not yet. */
  readonly arrived: number;
  /** Bodies of accepted batches, in order of acceptance. */
  accepted(): Buffer[];
  /** Behaviours for the next requests, in order (default afterwards: 200). */
  script(...next: Behaviour[]): void;
  /** Resolve once `n` batches have been accepted. */
  waitAccepted(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface AuditReceiverOptions {
  readonly scheme?: 'https' | 'http';
  readonly cert?: 'trusted' | 'untrusted';
  /** Checked for every request before it is answered; a throw answers 400 (a payload validator). */
  readonly validate?: (body: Buffer, headers: IncomingHttpHeaders) => void;
  readonly path?: string;
}

export async function startAuditReceiver(opts: AuditReceiverOptions = {}): Promise<AuditReceiver> {
  const batches: ReceivedBatch[] = [];
  const queue: Behaviour[] = [];
  const watchers = new Set<() => void>();
  const sockets = new Set<Socket>();
  let arrived = 0;
  const notify = () => {
    for (const w of watchers) w();
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      arrived++;
      const b = queue.shift() ?? { status: 200 };
      const record = (accepted: boolean) => {
        batches.push({ headers: req.headers, url: req.url ?? '', body, accepted });
        notify();
      };
      if ('reset' in b) {
        record(false);
        req.socket.destroy();
        return;
      }
      if ('delayMs' in b) await new Promise((r) => setTimeout(r, b.delayMs));
      if ('hang' in b) await b.hang;
      let status = 'status' in b ? b.status : 200;
      let answer = 'body' in b && b.body !== undefined ? b.body : '{}';
      if (status < 300 && opts.validate) {
        try {
          opts.validate(body, req.headers);
        } catch (err) {
          status = 400;
          answer = JSON.stringify({ error: String(err) });
        }
      }
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if ('retryAfter' in b && b.retryAfter !== undefined) headers['retry-after'] = b.retryAfter;
      res.writeHead(status, headers);
      res.end(answer);
      record(status >= 200 && status < 300);
    });
  };

  const name = opts.cert === 'untrusted' ? 'untrusted' : 'upstream';
  const server =
    opts.scheme === 'http'
      ? createHttpServer(handle)
      : createHttpsServer(
          { key: readFileSync(fixturePath(`${name}.key`)), cert: readFileSync(fixturePath(`${name}.crt`)) },
          handle,
        );
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const accepted = () => batches.filter((b) => b.accepted).map((b) => b.body);

  return {
    url: `${opts.scheme ?? 'https'}://127.0.0.1:${port}${opts.path ?? '/ingest'}`,
    batches,
    get arrived() {
      return arrived;
    },
    accepted,
    script: (...next) => void queue.push(...next),
    waitAccepted: (n, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (accepted().length < n) return;
          clearTimeout(timer);
          watchers.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          watchers.delete(check);
          reject(new Error(`only ${accepted().length} of ${n} batches accepted within ${timeoutMs} ms`));
        }, timeoutMs);
        watchers.add(check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
