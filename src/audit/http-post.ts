/**
 * POST one batch to an audit receiver over node:https with the upstream trust store (default roots plus
 * `upstream_ca_file`, `upstream/dial.ts`) and verification always on — or over node:http, which the config only
 * allows to a loopback host (`config/audit-fields.ts`). One keep-alive socket per sink: batches go one at a time,
 * so their order is kept.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';

/** What the receiver answered. */
export interface PostResult {
  readonly status: number;
  /** `Retry-After` in milliseconds (delta-seconds or an HTTP date, RFC 9110 §10.2.3), when given. */
  readonly retryAfterMs: number | undefined;
  /** The response body, up to a few KiB (OTLP partial-success details); never logged. */
  readonly body: string;
}

/** A poster bound to one receiver URL. */
export interface Poster {
  /** Resolves with the answer, rejects on a network or TLS failure or after `timeoutMs`. */
  post(body: Buffer, headers: Readonly<Record<string, string>>, timeoutMs: number): Promise<PostResult>;
  /** Abort the request in flight (it rejects) and close idle sockets. */
  destroy(): void;
}

const MAX_RESPONSE_BYTES = 16 * 1024;

function retryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The upstream leg's rule (`upstream/dial.ts`): Node's roots plus `extraCa`; with none, Node's default store as is,
 * which keeps `NODE_EXTRA_CA_CERTS` in effect. Built here rather than imported so the audit sinks stay
 * self-contained.
 */
function trustStore(extraCa: readonly string[]) {
  return extraCa.length === 0
    ? createSecureContext()
    : createSecureContext({ ca: [...rootCertificates, ...extraCa] });
}

/** Create a poster for `url`; `extraCa` as for the upstream leg (PEM strings). */
export function createPoster(url: URL, extraCa: readonly string[]): Poster {
  const https = url.protocol === 'https:';
  const agent = https
    ? new HttpsAgent({ keepAlive: true, maxSockets: 1 })
    : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const tls = https
    ? // Explicit `rejectUnauthorized`: NODE_TLS_REJECT_UNAUTHORIZED=0 must not switch verification off here.
      { secureContext: trustStore(extraCa), rejectUnauthorized: true }
    : {};
  const send = https ? httpsRequest : httpRequest;
  let current: { destroy(err: Error): void } | undefined;

  return {
    post: (body, headers, timeoutMs) =>
      new Promise<PostResult>((resolve, reject) => {
        const req = send(url, {
          method: 'POST',
          agent,
          ...tls,
          headers: { ...headers, 'content-length': String(body.length) },
          timeout: timeoutMs,
        });
        current = req;
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', (err) => {
          current = undefined;
          reject(err);
        });
        req.on('response', (res) => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            if (bytes < MAX_RESPONSE_BYTES) chunks.push(c);
            bytes += c.length;
          });
          res.on('error', reject);
          // A connection reset mid-body ends in 'close' without 'end': the batch was not acknowledged.
          res.on('close', () => {
            if (!res.complete) reject(new Error('response cut short'));
          });
          res.on('end', () => {
            current = undefined;
            resolve({
              status: res.statusCode ?? 0,
              retryAfterMs: retryAfter(res.headers['retry-after'], Date.now()),
              body: Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES).toString('utf8'),
            });
          });
        });
        req.end(body);
      }),
    destroy() {
      current?.destroy(new Error('audit sink aborted'));
      current = undefined;
      agent.destroy();
    },
  };
}
