/**
 * Forward proxying of absolute-form `http://` requests (SPEC §6): only to passthrough hosts, unchanged but for
 * `Proxy-Authorization` and hop-by-hop headers; a service host gets 403 `https_required` (a credential never travels
 * in plaintext), anything else 403 `host_not_allowed`. Node's parser frames every request on the connection.
 *
 * The target is decided as a CONNECT target is (`decideTarget`: a service host is the `host:port` pair, exact beats
 * wildcard, the service wins a tie), so `http://` to an explicit passthrough `host:port` is forwarded even when a
 * service names the same host on another port (issue 12). A target no entry covers is refused with `https_required`
 * when some service names that host on another port — the more useful hint — else `host_not_allowed`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServiceIndex } from '../agent/source.js';
import { deniedRequestEvent, type RequestIdentity } from '../audit/emit.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import type { ProxyErrorCode } from '../errors.js';
import { type WildcardHost, wildcardSuffixKeys } from '../net/host-pattern.js';
import { type HostPort, parseHostPort } from '../net/host-port.js';
import type { HostSet } from '../net/host-set.js';
import { forwardedAudit } from '../pipeline/audit-forwarded.js';
import { authenticate } from '../pipeline/authenticate.js';
import { decideTarget } from '../pipeline/decide-target.js';
import { stripHeaders } from '../pipeline/strip.js';
import { forward } from '../upstream/forward.js';
import { createInnerServer } from './inner-server.js';
import { sendError } from './send-error.js';
import { trackedHandler } from './tracked-handler.js';

export interface ForwardServer {
  /** Serve `conn.socket`, whose head bytes were put back for Node's parser. */
  accept(conn: ConnInfo): void;
  close(): void;
}

const PREFIX = 'http://';

/** Split an absolute-form `http://` target into its authority and origin-form rest; undefined if malformed. */
export function splitAbsolute(url: string): { target: HostPort; path: string } | undefined {
  if (url.slice(0, PREFIX.length).toLowerCase() !== PREFIX) return undefined;
  const rest = url.slice(PREFIX.length);
  let cut = rest.length;
  for (const ch of ['/', '?']) {
    const i = rest.indexOf(ch);
    if (i >= 0 && i < cut) cut = i;
  }
  const parsed = parseHostPort(rest.slice(0, cut), 80);
  if (!parsed.ok) return undefined;
  const tail = rest.slice(cut);
  return { target: parsed.value, path: tail === '' ? '/' : tail.startsWith('?') ? `/${tail}` : tail };
}

/**
 * Host names (any port) that some service names, as a {@link HostSet} whose keys are names without ports: a
 * refused plain-HTTP request to one of them is answered `https_required`. Built once per services revision.
 */
const serviceNames = new WeakMap<ServiceIndex, HostSet>();
function namesOf(index: ServiceIndex): HostSet {
  let names = serviceNames.get(index);
  if (!names) {
    const exact = new Set<string>();
    const wildcards = new Map<string, WildcardHost>();
    for (const s of index.services) {
      for (const h of s.hosts) {
        if (h.kind === 'wildcard') wildcards.set(h.suffix, h);
        else exact.add(h.host);
      }
    }
    names = { has: (name: string) => exact.has(name), wildcards };
    serviceNames.set(index, names);
  }
  return names;
}

/** True when some service names `target`'s host on any port. */
export function namedOnAnyPort(index: ServiceIndex, target: HostPort): boolean {
  const names = namesOf(index);
  if (names.has(target.host)) return true;
  const wild = names.wildcards;
  if (wild === undefined || wild.size === 0) return false;
  return wildcardSuffixKeys(target, (_key, suffix) => wild.has(suffix)) === true;
}

export function createForwardServer(ctx: ProxyContext): ForwardServer {
  // The same server as inside TLS: Node's parser frames every request, parser errors are answered without
  // splicing into a response, and each later head on the connection has its own header deadline (slowloris).
  const http = createInnerServer(
    ctx,
    trackedHandler(ctx, 'forward handler', (req, res, conn, requestId, start) =>
      forwardOne(ctx, req, res, conn, requestId, start),
    ),
  );
  return {
    accept(conn) {
      http.accept(conn.socket, conn);
      conn.socket.resume();
    },
    close() {
      http.close();
    },
  };
}

async function forwardOne(
  ctx: ProxyContext,
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnInfo,
  requestId: string,
  start: bigint,
): Promise<void> {
  const split = splitAbsolute(req.url ?? '');
  const target = split?.target;
  // Each forwarded request carries its own Proxy-Authorization, so the identity is the request's, not the socket's.
  const auth = authenticate(req.headers['proxy-authorization'], ctx.workloadToken, ctx.source.identities?.());
  const id: RequestIdentity = {
    request_id: requestId,
    identity: auth.ok ? auth.identity : null,
    method: req.method ?? '',
    path: split ? (split.path.split('?', 1)[0] ?? '/') : '',
    service: null,
    auth_type: null,
    secret_ref: null,
  };
  const deny = (code: ProxyErrorCode) =>
    ctx.audit.write(deniedRequestEvent(conn, target, id, code, sendError(res, code), start));

  if (!auth.ok) return deny('proxy_auth_required');
  if (!split || !target) return deny('bad_request');
  const index = ctx.source.services();
  const decision = decideTarget(target, index, ctx.passthrough);
  if (decision === 'intercept') return deny('https_required');
  if (decision !== 'tunnel')
    return deny(namedOnAnyPort(index, target) ? 'https_required' : 'host_not_allowed');

  const rawHeaders = stripHeaders(req.rawHeaders);
  if (req.headers.host === undefined)
    rawHeaders.push(
      'Host',
      target.kind === 'ipv6' ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`,
    );
  const { audit, early } = forwardedAudit(ctx, conn, target, id, 'forward', start);
  const outcome = await forward({
    pool: ctx.pool,
    req,
    res,
    target,
    scheme: 'http',
    path: split.path,
    rawHeaders,
    responseTimeoutMs: ctx.limits.upstreamResponseTimeoutMs,
    early,
  });
  audit(outcome);
}
