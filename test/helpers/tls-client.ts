/**
 * Clients that speak TLS to a target *through* a test proxy: CONNECT by hand (test/helpers/proxy.ts), then
 * `tls.connect({ socket })` over the tunnel, then either raw bytes or `node:https` with `createConnection`
 * returning that socket. Used by the interception suites to see exactly what the proxy answers.
 */
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { basicAuth, connectThrough } from './proxy.js';

/** Options for {@link openTlsThrough} and {@link tlsThrough}. */
export interface TlsThroughOptions {
  /** Roots the client trusts: normally the proxy's `caCertPem`. */
  readonly ca: string;
  /** SNI to send. Default: the target's host, or none for an IP literal. `false` sends none. */
  readonly servername?: string | false;
  /** `Proxy-Authorization` for the CONNECT; default the test token, null for none. */
  readonly auth?: string | null;
}

/** A TLS client socket over a CONNECT tunnel, before its handshake has finished. */
export interface OpenedTls {
  readonly tls: TLSSocket;
  /** The TCP socket to the proxy that carries the tunnel. */
  readonly raw: Socket;
  /** `raw.bytesRead` right after the `200`: anything the proxy sent later shows up as growth past it. */
  readonly bytesAfterConnect: number;
  /** Settles when the handshake finishes, or rejects when the connection fails or closes first. */
  readonly secure: Promise<void>;
}

/** Split `host:port` / `[v6]:port` into the host without brackets and the port. */
export function splitTarget(target: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
  if (!m) throw new TypeError(`target must be host:port, got ${target}`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** CONNECT to `target` and start a TLS handshake inside; fails unless the proxy answers 200. */
export async function openTlsThrough(
  proxyPort: number,
  target: string,
  opts: TlsThroughOptions,
): Promise<OpenedTls> {
  const { host } = splitTarget(target);
  const tunnel = await connectThrough(proxyPort, target, opts.auth === undefined ? basicAuth() : opts.auth);
  if (tunnel.status !== 200) {
    tunnel.socket.destroy();
    throw new Error(`CONNECT ${target} answered ${tunnel.head.split('\r\n', 1)[0]}`);
  }
  const raw = tunnel.socket;
  const bytesAfterConnect = raw.bytesRead;
  const servername = opts.servername ?? (isIP(host) ? false : host);
  // `host` drives checkServerIdentity (an IP literal is checked against the leaf's IP SANs); an empty
  // servername sends no SNI extension at all.
  const tls = tlsConnect({
    socket: raw,
    host,
    ca: opts.ca,
    servername: servername === false ? '' : servername,
  });
  // Once settled, later 'error'/'close' events do nothing here.
  const secure = new Promise<void>((resolve, reject) => {
    tls.once('error', reject);
    tls.once('close', () => reject(new Error('closed before the TLS handshake finished')));
    tls.once('secureConnect', () => resolve());
  });
  // A refusal test may never look at `secure`; keep its rejection from going unhandled.
  secure.catch(() => {});
  return { tls, raw, bytesAfterConnect, secure };
}

/** A TLS socket to `target` through the proxy, handshake done (the proxy's leaf verified against `ca`). */
export async function tlsThrough(
  proxyPort: number,
  target: string,
  opts: TlsThroughOptions,
): Promise<TLSSocket> {
  const opened = await openTlsThrough(proxyPort, target, opts);
  // The `once('error')` in openTlsThrough stays attached, so a late reset never crashes the test process.
  await opened.secure.catch((err: unknown) => {
    opened.tls.destroy();
    throw err;
  });
  return opened.tls;
}

/** One request for {@link httpsRequestThrough}. */
export interface ThroughRequest {
  readonly method?: string;
  /** Origin-form request target (path and query), sent as is. */
  readonly path: string;
  /** Header object, or a flat raw list sent exactly as given. `Host` defaults to the CONNECT target. */
  readonly headers?: OutgoingHttpHeaders | readonly string[];
  readonly body?: Buffer | string;
}

/** A whole response as the client received it. */
export interface ThroughResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  /** The body parsed as JSON. */
  json<T = Record<string, unknown>>(): T;
}

function withHost(headers: ThroughRequest['headers'], target: string): OutgoingHttpHeaders | string[] {
  if (Array.isArray(headers)) {
    const raw = [...(headers as readonly string[])];
    const hasHost = raw.some((v, i) => i % 2 === 0 && v.toLowerCase() === 'host');
    return hasHost ? raw : ['Host', target, ...raw];
  }
  const obj = { ...(headers as OutgoingHttpHeaders | undefined) };
  if (!Object.keys(obj).some((k) => k.toLowerCase() === 'host')) obj.host = target;
  return obj;
}

/** A request in progress: write the body yourself, read the response as a stream. */
export interface OpenRequest {
  readonly req: ClientRequest;
  readonly socket: TLSSocket;
  /** The response head; rejects when the connection fails first. */
  readonly response: Promise<IncomingMessage>;
}

/**
 * Start one request with `node:https` over a fresh CONNECT tunnel (`createConnection` hands it the TLS socket).
 * The body is not sent: call `req.end(body)` or stream it. For whole responses use {@link httpsRequestThrough}.
 */
export async function requestThrough(
  proxyPort: number,
  target: string,
  req: Omit<ThroughRequest, 'body'>,
  opts: TlsThroughOptions,
): Promise<OpenRequest> {
  const socket = await tlsThrough(proxyPort, target, opts);
  const { host, port } = splitTarget(target);
  const out = request({
    host,
    port,
    method: req.method ?? 'GET',
    path: req.path,
    headers: withHost(req.headers, target) as OutgoingHttpHeaders,
    // No `agent` at all: with `createConnection` Node then uses this socket (`agent: false` would make a fresh
    // https.Agent that dials by itself).
    createConnection: () => socket,
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    out.once('response', resolve);
    out.once('error', (err) => {
      socket.destroy();
      reject(err);
    });
  });
  response.catch(() => {});
  return { req: out, socket, response };
}

/** Read a response body to its end; rejects when it is cut short. */
export function readBody(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('response aborted')));
    res.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** Send one request through the proxy and collect the whole response; rejects when it is cut short. */
export async function httpsRequestThrough(
  proxyPort: number,
  target: string,
  req: ThroughRequest,
  opts: TlsThroughOptions,
): Promise<ThroughResponse> {
  const open = await requestThrough(proxyPort, target, req, opts);
  open.req.end(req.body);
  try {
    const res = await open.response;
    const body = await readBody(res);
    return {
      status: res.statusCode ?? 0,
      headers: res.headers,
      rawHeaders: res.rawHeaders,
      body,
      json: <T>() => JSON.parse(body.toString('utf8')) as T,
    };
  } finally {
    open.socket.destroy();
  }
}

/**
 * Write `bytes` on an established socket and collect everything until the PEER closes it. Rejects (and destroys
 * the socket) if it is still open after `timeoutMs`: every caller expects the proxy to close the connection.
 */
export function exchangeRaw(socket: Socket, bytes: string | Buffer, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      socket.destroy();
      reject(
        new Error(
          `still open after ${timeoutMs} ms; received ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`,
        ),
      );
    }, timeoutMs);
    const onClose = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.once('close', onClose);
    socket.write(bytes);
  });
}

/** Count non-overlapping occurrences of `needle` in `haystack` (e.g. responses in a raw byte capture). */
export function countOccurrences(haystack: Buffer | string, needle: string): number {
  const text = typeof haystack === 'string' ? haystack : haystack.toString('latin1');
  let n = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length)) n++;
  return n;
}
