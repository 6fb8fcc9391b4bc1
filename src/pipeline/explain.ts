/**
 * `clef-proxy explain` (issue 12): what the proxy would do with one request, computed by the same pure stages the
 * proxy runs — {@link explainTarget} / {@link explainMatch} (which call `decideTarget` and `matchService`),
 * `checkRequestHost`, `parseRequestTarget`, `checkIdentity`, `authenticate` — in `prepareRequest`'s order. Nothing
 * is sent upstream and no secret is fetched, so the two outcomes that depend on a secret's value
 * (`credential_unavailable`, `invalid_credential`) cannot be predicted.
 */
import type { IdentityTable } from '../agent/identities.js';
import type { ServiceIndex } from '../agent/source.js';
import { ERROR_TABLE, type ProxyErrorCode } from '../errors.js';
import { namedOnAnyPort } from '../http/forward-plain.js';
import type { HostPort } from '../net/host-port.js';
import { type HostSet, hostSetCovers } from '../net/host-set.js';
import type { NoProxyMatcher } from '../net/no-proxy.js';
import type { ParsedProxyUrl } from '../upstream/proxy-url.js';
import { checkRequestHost } from './check-host.js';
import { checkIdentity } from './check-identity.js';
import {
  type CredentialShape,
  describeCredential,
  explainIdentity,
  explainRoute,
  type IdentityExplanation,
  type RouteExplanation,
} from './explain-parts.js';
import { explainMatch, explainTarget } from './match-explain.js';
import { parseRequestTarget, splitPathQuery } from './match-service.js';

/** Everything explain needs, all already loaded: the agent's services and identities and the resolved config. */
export interface ExplainArgs {
  readonly scheme: 'https' | 'http';
  readonly target: HostPort;
  /** Origin-form target (path and query) as the client would send it. */
  readonly rawTarget: string;
  readonly method: string;
  readonly identity: string | undefined;
  /** Extra request headers, flat `[name, value, …]`; a `Host` here replaces the one the URL implies. */
  readonly headers: readonly string[];
  readonly index: ServiceIndex;
  readonly identities: IdentityTable | undefined;
  readonly authWaived: boolean;
  readonly passthrough: HostSet;
  readonly upstream: {
    readonly https: ParsedProxyUrl | undefined;
    readonly http: ParsedProxyUrl | undefined;
    readonly noProxy: NoProxyMatcher;
  };
}

/** One service considered, and what became of it (docs/explain.md). */
export interface CandidateExplanation {
  readonly service: string;
  readonly host_entry: string;
  readonly host_match: 'exact' | 'wildcard';
  readonly path_prefix: string;
  readonly path_matched: boolean;
  readonly outcome: 'chosen' | 'tied' | 'lost';
  readonly reason: string;
  /** The service's `identities` list, or null when it admits every workload. */
  readonly identities: readonly string[] | null;
}

/** The whole answer; `--json` prints it as is (docs/explain.md, `explain_version` 1). */
export interface Explanation {
  readonly explain_version: 1;
  readonly request: {
    readonly method: string;
    readonly scheme: 'https' | 'http';
    readonly host: string;
    readonly port: number;
    /** Without the query: it may hold credentials, and the proxy's decision never reads it. */
    readonly path: string;
  };
  readonly identity: IdentityExplanation;
  readonly target: {
    readonly decision: 'intercept' | 'tunnel' | 'forward' | 'deny';
    readonly reason: string;
  };
  readonly candidates: readonly CandidateExplanation[];
  readonly service: string | null;
  readonly credential: CredentialShape | null;
  readonly upstream: RouteExplanation | null;
  readonly result: {
    readonly forwarded: boolean;
    readonly decision: 'inject' | 'forward' | 'tunnel' | 'deny';
    readonly code: ProxyErrorCode | null;
    readonly status: number | null;
  };
}

type Result = Explanation['result'];
const refused = (code: ProxyErrorCode): Result => ({
  forwarded: false,
  decision: 'deny',
  code,
  status: ERROR_TABLE[code].status,
});
const passed = (decision: 'inject' | 'forward' | 'tunnel'): Result => ({
  forwarded: true,
  decision,
  code: null,
  status: null,
});

/** Explain one request. Pure. */
export function explainRequest(args: ExplainArgs): Explanation {
  const { target, index } = args;
  const identity = explainIdentity(args.identity, args.identities, args.authWaived);
  let candidates: CandidateExplanation[] = [];
  let service: Explanation['service'] = null;
  let credential: CredentialShape | null = null;
  let upstream: RouteExplanation | null = null;
  const done = (
    decision: Explanation['target']['decision'],
    reason: string,
    result: Result,
  ): Explanation => ({
    explain_version: 1,
    request: {
      method: args.method,
      scheme: args.scheme,
      host: target.host,
      port: target.port,
      path: splitPathQuery(args.rawTarget).path,
    },
    identity,
    target: { decision, reason },
    candidates,
    service,
    credential,
    upstream,
    result,
  });

  if (!identity.admitted) return done('deny', 'proxy_auth_required', refused('proxy_auth_required'));
  const route = (proxy: ParsedProxyUrl | undefined) =>
    explainRoute(proxy, args.upstream.noProxy, target.host, target.port);

  const t = explainTarget(target, index, args.passthrough);
  if (args.scheme === 'http') {
    // The plain-HTTP forwarder's rule (forward-plain.ts): passthrough only; a service's name is https_required.
    if (t.decision === 'tunnel') {
      upstream = route(args.upstream.http);
      return done('forward', 'passthrough_host', passed('forward'));
    }
    const code =
      t.decision === 'intercept' || namedOnAnyPort(index, target) ? 'https_required' : 'host_not_allowed';
    return done('deny', code, refused(code));
  }
  if (t.decision === 'tunnel') {
    upstream = route(args.upstream.https);
    return done('tunnel', t.reason, passed('tunnel'));
  }
  if (t.decision !== 'intercept') return done('deny', t.reason, refused(t.decision.code));

  // prepareRequest's order: Host, request target, match, identity (then secret and injection, not run here).
  const authority =
    target.kind === 'ipv6' ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
  const hasHost = args.headers.some((v, i) => i % 2 === 0 && v.toLowerCase() === 'host');
  const host = checkRequestHost(hasHost ? args.headers : ['Host', authority, ...args.headers], target);
  if (!host.ok) return done('intercept', t.reason, refused(host.code));
  const parsed = parseRequestTarget(args.rawTarget);
  if (!parsed.ok) return done('intercept', t.reason, refused(parsed.code));
  const clef: string[] = [];
  for (let i = 0; i + 1 < args.headers.length; i += 2)
    if (args.headers[i]!.toLowerCase() === 'x-clef-service') clef.push(args.headers[i + 1]!);
  const match = explainMatch({
    index,
    target,
    path: parsed.value.path,
    clefService: clef.length === 0 ? undefined : clef.join(','),
    isPassthrough: hostSetCovers(args.passthrough, target),
  });
  candidates = match.candidates.map((c) => ({
    service: c.service.name,
    host_entry: c.entry.key,
    host_match: c.match,
    path_prefix: c.pathPrefix,
    path_matched: c.pathMatched,
    outcome: c.outcome,
    reason: c.reason,
    identities: c.service.identities ?? null,
  }));
  if (!match.result.ok) return done('intercept', t.reason, refused(match.result.code));
  upstream = route(args.upstream.https);
  if (match.result.value.kind === 'forward') return done('intercept', t.reason, passed('forward'));
  const svc = match.result.value.service;
  service = svc.name;
  const allowed = checkIdentity(svc, identity.name);
  if (!allowed.ok) {
    upstream = null;
    return done('intercept', t.reason, refused(allowed.code));
  }
  credential = describeCredential(svc.auth);
  return done('intercept', t.reason, passed('inject'));
}
