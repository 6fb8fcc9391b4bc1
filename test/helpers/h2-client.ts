/**
 * HTTP/2 clients through a test proxy: CONNECT, then TLS offering ALPN `h2` inside the tunnel, then a node:http2
 * session on that socket. `h2Get` collects one response: status, headers, body, trailers.
 */
import {
  type ClientHttp2Session,
  connect as h2connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { basicAuth, connectThrough } from './proxy.js';
import { splitTarget } from './tls-client.js';

/** A TLS socket to `target` through the proxy with `alpn` offered; resolves after the handshake. */
export async function tlsThroughAlpn(
  port: number,
  target: string,
  ca: string,
  alpn: string[],
): Promise<TLSSocket> {
  const { host } = splitTarget(target);
  const tunnel = await connectThrough(port, target, basicAuth());
  if (tunnel.status !== 200) throw new Error(`CONNECT answered ${tunnel.status}`);
  const tls = tlsConnect({ socket: tunnel.socket, host, servername: host, ca, ALPNProtocols: alpn });
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  return tls;
}

/** An HTTP/2 session to `target` through the proxy. */
export async function h2Through(port: number, target: string, ca: string): Promise<ClientHttp2Session> {
  const tls = await tlsThroughAlpn(port, target, ca, ['h2']);
  if (tls.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${String(tls.alpnProtocol)}`);
  const session = h2connect(`https://${target}`, { createConnection: () => tls });
  session.on('error', () => {});
  return session;
}

export interface H2Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders | undefined;
  /** The stream ended normally (END_STREAM), not by a reset. */
  readonly complete: boolean;
  readonly rstCode: number | undefined;
}

/** Send one request on `session` and collect the reply (a reset stream resolves with `complete: false`). */
export function h2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: string | Buffer,
): Promise<H2Reply> {
  return new Promise((resolve) => {
    const stream = session.request(headers, { endStream: body === undefined });
    if (body !== undefined) stream.end(body);
    let status = 0;
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | undefined;
    let complete = false;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      head = h;
      status = Number(h[':status']);
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      complete = true;
    });
    stream.on('error', () => {});
    stream.on('close', () =>
      resolve({
        status,
        headers: head,
        body: Buffer.concat(chunks),
        trailers,
        complete,
        rstCode: stream.rstCode,
      }),
    );
  });
}

/** GET `path` with the authority of `target`. */
export function h2Get(
  session: ClientHttp2Session,
  path: string,
  extra: OutgoingHttpHeaders = {},
): Promise<H2Reply> {
  return h2Request(session, { ':method': 'GET', ':path': path, ...extra });
}
