/**
 * The loopback HTTP client for the secrets agent (SPEC §5). One keep-alive `http.Agent` per client instance, so
 * several proxies in one process never share sockets (SPEC §11). Errors are {@link AgentError}s whose messages are
 * built from the path and status only: never the token, never a body (a body may hold a secret value).
 */
import http from 'node:http';
import * as v from 'valibot';
import { isLoopbackHost } from '../net/loopback.js';

/** Why an agent call failed. `unreachable` covers refused connections, resets and timeouts. */
export type AgentErrorKind =
  | 'unreachable'
  | 'unauthorized'
  | 'not_found'
  | 'unavailable'
  | 'malformed'
  | 'http_status';

/** A failed agent call. `status` is the HTTP status when one was received. */
export class AgentError extends Error {
  readonly kind: AgentErrorKind;
  readonly status: number | undefined;
  constructor(kind: AgentErrorKind, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentError';
    this.kind = kind;
    this.status = options?.status;
  }
}

/** The answer to `GET /v1/services`: a new document, or 304 for the ETag we sent. */
export type ServicesResponse =
  | { readonly status: 'ok'; readonly etag: string | undefined; readonly doc: unknown }
  | { readonly status: 'not_modified' };

/**
 * The answer to `GET /v1/identities` (issue 12): a new document, 304 for our ETag, or `unsupported` when the agent
 * answers 404 — an agent that predates identities, for which every username shares `CLEF_PROXY_TOKEN`.
 */
export type IdentitiesResponse = ServicesResponse | { readonly status: 'unsupported' };

/** The agent API, one method per endpoint. */
export interface AgentClient {
  /** True on 200 from `/v1/ready`, false on any other status; rejects `unreachable` on network failure. */
  ready(options?: { timeoutMs?: number }): Promise<boolean>;
  services(etag?: string): Promise<ServicesResponse>;
  identities(etag?: string): Promise<IdentitiesResponse>;
  /** The secret's value; rejects with an {@link AgentError} on anything but a well-formed 200. */
  secret(key: string): Promise<string>;
  /** Destroy the pooled sockets; later calls reject `unreachable`. */
  close(): void;
}

/** Options for {@link createAgentClient}. */
export interface AgentClientOptions {
  /** Base URL, `http://` on a loopback host (SPEC §3: the token travels in plaintext). */
  readonly url: string;
  readonly token: string;
  /** Per-request deadline, response body included. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** An idle kept-alive socket to the agent is closed after this long. Default 30 s. */
  readonly keepAliveIdleMs?: number;
}

/**
 * Idle keep-alive sockets to the agent are ours to close: an agent that never times them out (Go's http.Server
 * does not, by default) would otherwise keep as many descriptors as the busiest moment needed, for good. 30 s is
 * the upstream pool's longest idle too, and outlasts the default refresh period, so the refresh keeps one warm.
 */
const AGENT_KEEP_ALIVE_IDLE_MS = 30_000;

const SecretBody = v.object({ key: v.string(), value: v.string() });
// Bounds on what we buffer from the agent: a services document can be large, a secret cannot.
const MAX_SERVICES_BYTES = 16 * 1024 * 1024;
const MAX_SECRET_BYTES = 1024 * 1024;
// The token goes verbatim into a header: one that is not a plain visible-ASCII value would fail every call later.
const FIELD_VALUE_RE = /^[\x21-\x7e]+$/;

// SPEC §5: 401 bad token, 404 unknown key, 503 not ready; any other non-2xx is a plain `http_status`.
const STATUS_KIND: Readonly<Record<number, AgentErrorKind>> = {
  401: 'unauthorized',
  403: 'unauthorized',
  404: 'not_found',
  503: 'unavailable',
};

function statusError(path: string, status: number): AgentError {
  return new AgentError(STATUS_KIND[status] ?? 'http_status', `${path}: agent answered ${status}`, {
    status,
  });
}

function parseJson(path: string, body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new AgentError('malformed', `${path}: response is not JSON`, { status: 200 });
  }
}

/** Internal marker: a reused keep-alive socket was reset before any reply. */
class StaleSocket extends Error {}

interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * Create a client for the agent at `url`. Throws a TypeError for a URL that is not `http://` on loopback, and an
 * `unauthorized` {@link AgentError} for a token that cannot be sent as a header value.
 */
export function createAgentClient(options: AgentClientOptions): AgentClient {
  const base = new URL(options.url);
  if (base.protocol !== 'http:') throw new TypeError('agent url must use http:');
  if (!isLoopbackHost(base.hostname)) throw new TypeError('agent url must name a loopback host');
  if (!FIELD_VALUE_RE.test(options.token)) {
    throw new AgentError('unauthorized', 'agent token must be non-empty visible ASCII without spaces');
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const prefix = base.pathname.replace(/\/+$/, '');
  const authorization = `Bearer ${options.token}`;
  const pool = new http.Agent({
    keepAlive: true,
    timeout: options.keepAliveIdleMs ?? AGENT_KEEP_ALIVE_IDLE_MS,
  });
  let closed = false;

  /** One GET. Rejects with an AgentError, or a {@link StaleSocket} when a reused socket was reset before a reply. */
  function once(path: string, headers: http.OutgoingHttpHeaders, limit: number, ms: number) {
    return new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const settle = (err: unknown, res?: RawResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (res) resolve(res);
        else reject(err);
      };
      const req = http.request({
        agent: pool,
        hostname: base.hostname.replace(/^\[|\]$/g, ''),
        port: base.port === '' ? 80 : Number(base.port),
        method: 'GET',
        path: prefix + path,
        headers,
      });
      // Settle first, then destroy: the socket's own errors that follow must not decide the outcome.
      const abort = (err: AgentError) => {
        settle(err);
        req.destroy();
      };
      const timer = setTimeout(
        () => abort(new AgentError('unreachable', `${path}: timed out after ${ms} ms`)),
        ms,
      );
      let answered = false;
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'error';
        if (!answered && req.reusedSocket && code === 'ECONNRESET') settle(new StaleSocket());
        else settle(new AgentError('unreachable', `${path}: ${code}`, { cause: err }));
      });
      req.once('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) abort(new AgentError('malformed', `${path}: response body too large`));
          else chunks.push(chunk);
        });
        res.on('error', (err) =>
          settle(new AgentError('unreachable', `${path}: response cut short`, { cause: err })),
        );
        res.once('end', () =>
          settle(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      });
      req.end();
    });
  }

  /** A GET with the token (unless `auth` is false), retried once on a stale kept-alive socket. */
  async function get(
    path: string,
    opts: { auth?: boolean; etag?: string | undefined; limit: number; ms?: number },
  ) {
    const headers: http.OutgoingHttpHeaders = {};
    if (opts.auth !== false) headers.authorization = authorization;
    if (opts.etag !== undefined) headers['if-none-match'] = opts.etag;
    for (let attempt = 0; ; attempt++) {
      if (closed) throw new AgentError('unreachable', `${path}: client closed`);
      try {
        return await once(path, headers, opts.limit, opts.ms ?? timeoutMs);
      } catch (err) {
        // A kept-alive socket the agent closed between requests resets on reuse; every agent call is an
        // idempotent GET, so one retry on a fresh socket is safe (undici does the same).
        if (!(err instanceof StaleSocket)) throw err;
        if (attempt > 0) throw new AgentError('unreachable', `${path}: ECONNRESET`);
      }
    }
  }

  return {
    async ready(opts) {
      const res = await get('/v1/ready', { auth: false, limit: MAX_SECRET_BYTES, ms: opts?.timeoutMs });
      return res.status === 200;
    },
    async services(etag) {
      const path = '/v1/services';
      const res = await get(path, { etag, limit: MAX_SERVICES_BYTES });
      if (res.status === 304 && etag !== undefined) return { status: 'not_modified' };
      if (res.status !== 200) throw statusError(path, res.status);
      const tag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
      return { status: 'ok', etag: tag, doc: parseJson(path, res.body) };
    },
    async identities(etag) {
      const path = '/v1/identities';
      const res = await get(path, { etag, limit: MAX_SERVICES_BYTES });
      if (res.status === 404) return { status: 'unsupported' };
      if (res.status === 304 && etag !== undefined) return { status: 'not_modified' };
      if (res.status !== 200) throw statusError(path, res.status);
      const tag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
      return { status: 'ok', etag: tag, doc: parseJson(path, res.body) };
    },
    async secret(key) {
      // The key is a name, not a value: safe in messages, and encoded so `/` or `?` cannot change the path.
      const path = `/v1/secrets/${encodeURIComponent(key)}`;
      const res = await get(path, { limit: MAX_SECRET_BYTES });
      if (res.status !== 200) throw statusError(path, res.status);
      const parsed = v.safeParse(SecretBody, parseJson(path, res.body));
      if (!parsed.success) throw new AgentError('malformed', `${path}: response lacks string key and value`);
      if (parsed.output.key !== key) throw new AgentError('malformed', `${path}: response names another key`);
      return parsed.output.value;
    },
    close() {
      closed = true;
      pool.destroy();
    },
  };
}
