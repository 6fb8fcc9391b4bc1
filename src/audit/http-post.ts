/**
 * POST one batch to an audit receiver over TLS from the upstream leg's verified dialer and trust store (default
 * roots plus `upstream_ca_file`, `upstream/dial.ts`) and verification always on — or over node:http, which the config only
 * allows to a loopback host (`config/audit-fields.ts`). One keep-alive socket per sink: batches go one at a time,
 * so their order is kept.
 */
import { type ClientRequestArgs, Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { Duplex } from 'node:stream';
import { type HostPort, parseHostPort } from '../net/host-port.js';
import { createUpstreamTrust, dialTls, type UpstreamTrust } from '../upstream/dial.js';

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
 * An agent whose TLS sockets come from the upstream leg's verified dialer (`upstream/dial.ts`: default roots plus
 * `upstream_ca_file`, verification always on, so `NODE_TLS_REJECT_UNAUTHORIZED=0` changes nothing). Keeping
 * the one client TLS connect in src/ there is an invariant of its own (test/security/upstream-tls.test.ts).
 * The receiver is not an upstream a workload chose: like the upstream proxy hop it is exempt from the destination
 * guard (the operator configured it).
 */
class VerifiedTlsAgent extends HttpAgent {
  readonly #target: HostPort;
  readonly #trust: UpstreamTrust;

  constructor(target: HostPort, trust: UpstreamTrust) {
    super({ keepAlive: true, maxSockets: 1 });
    this.#target = target;
    this.#trust = trust;
  }

  // Node's Agent accepts a callback from createConnection when the socket is made asynchronously.
  override createConnection(
    _options: ClientRequestArgs,
    done?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | undefined {
    dialTls(this.#target, { guard: null, trust: this.#trust, connectTimeoutMs: CONNECT_TIMEOUT_MS }).then(
      (socket) => done?.(null, socket),
      // Node's agent reads only the error when one is given (_http_agent.js oncreate); @types/node wants a stream.
      // The dialer's own error (its OpenSSL code) is what the sink logs, not the proxy's 502 wrapping of it.
      (err: Error) => done?.(err.cause instanceof Error ? err.cause : err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

const CONNECT_TIMEOUT_MS = 10_000;

/** Create a poster for `url`; `extraCa` as for the upstream leg (PEM strings). */
export function createPoster(url: URL, extraCa: readonly string[]): Poster {
  const https = url.protocol === 'https:';
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  let agent: HttpAgent;
  if (https) {
    const target = parseHostPort(`${url.hostname}:${port}`);
    if (!target.ok) throw new TypeError(`audit receiver host: ${target.reason}`);
    agent = new VerifiedTlsAgent(target.value, createUpstreamTrust(extraCa));
  } else {
    agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  }
  const requestOptions = {
    // node:http takes the bracketed form apart itself only from a URL; as options the bare address is wanted.
    host: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port,
    path: `${url.pathname}${url.search}`,
    method: 'POST',
    agent,
  };
  let current: { destroy(err: Error): void } | undefined;

  return {
    post: (body, headers, timeoutMs) =>
      new Promise<PostResult>((resolve, reject) => {
        const req = httpRequest({
          ...requestOptions,
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
