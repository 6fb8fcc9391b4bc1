/**
 * Open a tunnel through the upstream (corporate) proxy (SPEC §7): TCP, or TLS for an `https://` proxy, then
 * `CONNECT host:port` with `Proxy-Authorization` from the proxy URL, then the response head read within a bound.
 * A 2xx hands back the raw socket with any bytes read past the head put back; everything else is a
 * {@link ProxyError}. Modelled on proxy-agents' `parse-proxy-response.ts` (paused-mode reads, one cleanup).
 */
import type { LookupFunction, Socket } from 'node:net';
import { ProxyError } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import { createUpstreamTrust, dialTcp, dialTls, type UpstreamTrust } from './dial.js';
import type { ParsedProxyUrl } from './proxy-url.js';

/** Bound on the proxy's response head; a real CONNECT answer is a few hundred bytes. */
export const MAX_PROXY_RESPONSE_HEAD = 16 * 1024;

export interface ConnectViaProxyOptions {
  /** One deadline for reaching the proxy and reading its answer. */
  readonly connectTimeoutMs: number;
  readonly lookup?: LookupFunction;
  /** Roots for verifying an `https://` proxy's own certificate: the same ones the upstreams are checked with. */
  readonly trust?: UpstreamTrust;
}

const HEAD_END = Buffer.from('\r\n\r\n');
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: [^\r\n]*)?$/;

function noop(): void {}

/**
 * Reach the proxy itself; any failure is the proxy's (`upstream_proxy_error`), not the target's. Exempt from the
 * destination guard (`guard: null`): the operator named this proxy, and it is often on a private address.
 */
async function openToProxy(proxy: ParsedProxyUrl, opts: ConnectViaProxyOptions): Promise<Socket> {
  const dial = {
    connectTimeoutMs: opts.connectTimeoutMs,
    guard: null,
    ...(opts.lookup ? { lookup: opts.lookup } : {}),
  };
  try {
    if (proxy.protocol === 'http:') return await dialTcp(proxy.host, dial);
    return await dialTls(proxy.host, { ...dial, trust: opts.trust ?? createUpstreamTrust() });
  } catch (err) {
    throw new ProxyError('upstream_proxy_error', `could not reach the upstream proxy ${proxy.redacted}`, {
      cause: err,
    });
  }
}

function connectRequest(proxy: ParsedProxyUrl, target: HostPort): string {
  // `target.key` brackets IPv6 literals, as the authority-form of RFC 9110 §9.3.6 requires.
  let head = `CONNECT ${target.key} HTTP/1.1\r\nHost: ${target.key}\r\n`;
  if (proxy.authorization !== undefined) head += `Proxy-Authorization: ${proxy.authorization}\r\n`;
  return `${head}\r\n`;
}

/** Send CONNECT on an open socket and wait for the proxy's answer. */
function exchange(
  socket: Socket,
  proxy: ParsedProxyUrl,
  target: HostPort,
  timeoutMs: number,
): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
    };
    const fail = (err: ProxyError) => {
      cleanup();
      socket.on('error', noop);
      socket.destroy();
      reject(err);
    };
    const onHead = (head: string, rest: Buffer) => {
      const status = STATUS_LINE.exec(head.slice(0, head.indexOf('\r\n')))?.[1];
      if (status === undefined) {
        fail(
          new ProxyError(
            'upstream_proxy_error',
            `malformed answer from the upstream proxy ${proxy.redacted}`,
          ),
        );
      } else if (status === '407') {
        fail(
          new ProxyError('upstream_proxy_auth_failed', `the upstream proxy ${proxy.redacted} answered 407`),
        );
      } else if (!status.startsWith('2')) {
        fail(
          new ProxyError('upstream_proxy_error', `the upstream proxy ${proxy.redacted} answered ${status}`),
        );
      } else {
        cleanup();
        // Bytes the target already sent ride behind the head; give them back to whoever reads next.
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
      }
    };
    const onReadable = () => {
      let chunk: Buffer | null = socket.read() as Buffer | null;
      while (chunk !== null) {
        const from = Math.max(0, buffered.length - 3);
        buffered = Buffer.concat([buffered, chunk]);
        const end = buffered.indexOf(HEAD_END, from);
        if (end >= 0 && end + 4 <= MAX_PROXY_RESPONSE_HEAD) {
          onHead(buffered.subarray(0, end).toString('latin1'), buffered.subarray(end + 4));
          return;
        }
        if (buffered.length > MAX_PROXY_RESPONSE_HEAD) {
          fail(
            new ProxyError(
              'upstream_proxy_error',
              `oversized answer from the upstream proxy ${proxy.redacted}`,
            ),
          );
          return;
        }
        chunk = socket.read() as Buffer | null;
      }
    };
    const onEnd = () =>
      fail(
        new ProxyError(
          'upstream_proxy_error',
          `the upstream proxy ${proxy.redacted} closed without answering`,
        ),
      );
    const onError = (err: Error) =>
      fail(new ProxyError('upstream_proxy_error', `upstream proxy ${proxy.redacted} failed`, { cause: err }));
    const timer = setTimeout(
      () => fail(new ProxyError('upstream_proxy_error', `the upstream proxy ${proxy.redacted} timed out`)),
      timeoutMs,
    );
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.on('error', onError);
    socket.write(connectRequest(proxy, target));
  });
}

/**
 * Open a tunnel to `target` through `proxy`. Resolves with the socket to the proxy (a TLSSocket for an
 * `https://` proxy), positioned right after the `2xx` head and in paused mode; rejects with
 * `upstream_proxy_auth_failed` (407) or `upstream_proxy_error` (unreachable, non-2xx, malformed, timeout).
 */
export async function connectViaProxy(
  proxy: ParsedProxyUrl,
  target: HostPort,
  opts: ConnectViaProxyOptions,
): Promise<Socket> {
  const started = performance.now();
  const socket = await openToProxy(proxy, opts);
  const left = Math.max(1, opts.connectTimeoutMs - (performance.now() - started));
  return exchange(socket, proxy, target, left);
}
