/**
 * The policy half of the pipeline, shared by every request shape the proxy carries (an HTTP/1.1 request, an HTTP/2
 * stream, a WebSocket upgrade): host check → target parse → match → secret → inject → strip (SPEC §6 "Per request").
 * It awaits the secret but writes nothing to any socket: the caller turns a denial into its own kind of response and
 * audit event, and forwards a success its own way.
 */
import type { Service } from '../agent/source.js';
import type { ConnInfo, ProxyContext } from '../context.js';
import { type ErrorExtras, ProxyError, type ProxyErrorCode } from '../errors.js';
import type { HostPort } from '../net/host-port.js';
import { hostSetCovers } from '../net/host-set.js';
import { checkRequestHost } from './check-host.js';
import { checkIdentity } from './check-identity.js';
import { secretNames } from './credential.js';
import { fetchSecrets, SecretFetchError } from './fetch-secrets.js';
import { inject, type SecretValues } from './inject.js';
import { matchService, parseRequestTarget } from './match-service.js';
import { stripHeaders } from './strip.js';

/**
 * `X-Clef-Service` from a raw header list: every value, joined with `, ` as Node joins a repeated header in
 * `req.headers`, so a request that repeats it is judged alike on HTTP/1.1, HTTP/2 and an upgrade (two names never
 * pick one of them; the joined value names no candidate).
 */
export function clefServiceHeader(rawHeaders: readonly string[]): string | undefined {
  let value: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 14 && name.toLowerCase() === 'x-clef-service') {
      value = value === undefined ? rawHeaders[i + 1]! : `${value}, ${rawHeaders[i + 1]!}`;
    }
  }
  return value;
}

/** What the pipeline needs of a request, whatever protocol carried it. */
export interface RequestInput {
  /** The request target as sent (origin-form: path and query). */
  readonly rawUrl: string;
  /** Node's flat `[name, value, …]` list; `Host` (or h2 `:authority` mapped to it) included. */
  readonly rawHeaders: readonly string[];
  /** `X-Clef-Service`, joined when repeated. */
  readonly clefService: string | undefined;
}

/** The audit identity of a request so far: known as soon as each stage has run. */
export interface Prepared {
  /** The path without its query, or '' when the target did not parse. */
  readonly auditPath: string;
  /** The matched service, or null (no match yet, or a passthrough forward). */
  readonly service: Service | null;
  /** The workload identity the connection authenticated as (null: anonymous). */
  readonly identity: string | null;
}

export interface PreparedOk extends Prepared {
  readonly ok: true;
  /** The target to send upstream (a query credential included). */
  readonly path: string;
  /** Headers to send upstream: stripped, credential injected. */
  readonly rawHeaders: string[];
}

export interface PreparedDenied extends Prepared {
  readonly ok: false;
  readonly code: ProxyErrorCode;
  readonly extras?: ErrorExtras;
}

export type PreparedRequest = PreparedOk | PreparedDenied;

/** Run the policy stages for one request on an intercepted connection to `target`. */
export async function prepareRequest(
  ctx: ProxyContext,
  conn: ConnInfo,
  target: HostPort,
  input: RequestInput,
): Promise<PreparedRequest> {
  const parsedTarget = parseRequestTarget(input.rawUrl);
  const auditPath = parsedTarget.ok ? parsedTarget.value.path : '';
  let service: Service | null = null;
  const identity = conn.identity;
  const denied = (code: ProxyErrorCode, extras?: ErrorExtras): PreparedDenied =>
    extras === undefined
      ? { ok: false, code, auditPath, service, identity }
      : { ok: false, code, extras, auditPath, service, identity };

  // Raw headers, not req.headers.host: Node keeps only the first of two Host lines there (SPEC §6).
  const host = checkRequestHost(input.rawHeaders, target);
  if (!host.ok) return denied(host.code, host.extras);
  if (!parsedTarget.ok) return denied(parsedTarget.code, parsedTarget.extras);

  const match = matchService({
    index: ctx.source.services(),
    target,
    path: parsedTarget.value.path,
    clefService: input.clefService,
    isPassthrough: hostSetCovers(ctx.passthrough, target),
  });
  if (!match.ok) return denied(match.code, match.extras);

  let path = input.rawUrl;
  let rawHeaders = stripHeaders(input.rawHeaders);
  if (match.value.kind === 'service') {
    const svc = match.value.service;
    service = svc;
    // After the match, never part of it: an identity cannot steer a request onto another service (check-identity.ts).
    const allowed = checkIdentity(svc, identity);
    if (!allowed.ok) return denied(allowed.code);
    let secrets: SecretValues;
    try {
      const pending = fetchSecrets(ctx.source, secretNames(svc.auth));
      secrets = typeof pending === 'string' || pending instanceof Map ? pending : await pending;
    } catch (err) {
      // Fail closed (SPEC §5): the request is never forwarded without its whole credential.
      const name = err instanceof SecretFetchError ? err.secretName : undefined;
      const cause = err instanceof SecretFetchError ? err.cause : err;
      ctx.logger.warn(
        { conn_id: conn.id, service: svc.name, secret_ref: name, cause: causeOf(cause) },
        'secret unavailable',
      );
      return denied('credential_unavailable');
    }
    const injected = inject({ path, rawHeaders }, svc.auth, secrets);
    if (!injected.ok) return denied(injected.code, injected.extras);
    path = injected.value.path;
    rawHeaders = injected.value.rawHeaders;
  }
  return { ok: true, path, rawHeaders, auditPath, service, identity };
}

function causeOf(err: unknown): string {
  if (err instanceof ProxyError && err.cause instanceof Error) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}
