/**
 * Pieces of `clef-proxy explain` that describe rather than decide: the credential a service would inject (its
 * shape and secret names — never a value; explain never even fetches one), the upstream route (direct or via a
 * proxy, and the NO_PROXY entry that decided it), and the identity the proxy would see.
 */
import { createHash } from 'node:crypto';
import type { IdentityTable } from '../agent/identities.js';
import type { ServiceAuth } from '../agent/source.js';
import type { NoProxyMatcher } from '../net/no-proxy.js';
import type { ParsedProxyUrl } from '../upstream/proxy-url.js';
import { authenticate } from './authenticate.js';
import { secretNames } from './credential.js';

/** Where and how the credential goes. `format` shows secrets as `{{secret:NAME}}`. */
export interface CredentialShape {
  readonly type: string;
  /** The header written (replacing the client's), or null. */
  readonly header: string | null;
  /** The query parameter written (replacing the client's), or null. */
  readonly query: string | null;
  readonly format: string | null;
  /** Secret names, in the order they are used. */
  readonly secrets: readonly string[];
}

/** Describe `auth` without any secret value (a service definition holds names only). */
export function describeCredential(auth: ServiceAuth): CredentialShape {
  // The same list the proxy fetches (credential.ts): for basic the user secret too, for a template its placeholders.
  const secrets = [...secretNames(auth)];
  switch (auth.type) {
    case 'bearer':
      return {
        type: auth.type,
        header: 'Authorization',
        query: null,
        format: `Bearer {{secret:${auth.secret}}}`,
        secrets,
      };
    case 'api_key_header':
      return {
        type: auth.type,
        header: auth.header,
        query: null,
        format: `${auth.prefix}{{secret:${auth.secret}}}`,
        secrets,
      };
    case 'api_key_query':
      return {
        type: auth.type,
        header: null,
        query: auth.param,
        format: `{{secret:${auth.secret}}}`,
        secrets,
      };
    case 'basic':
      return {
        type: auth.type,
        header: 'Authorization',
        query: null,
        format: `Basic base64(${auth.usernameSecret === undefined ? auth.username : `{{secret:${auth.usernameSecret}}}`}:{{secret:${auth.secret}}})`,
        secrets,
      };
    case 'template':
      return {
        type: auth.type,
        header: auth.header ?? null,
        query: auth.query ?? null,
        format: auth.template,
        secrets,
      };
  }
}

/** The upstream leg: direct or through a chained proxy (redacted: no userinfo), and why. */
export interface RouteExplanation {
  readonly route: 'direct' | 'proxy';
  /** `protocol//host:port` of the chained proxy, never its credentials; null when direct. */
  readonly proxy: string | null;
  /** The NO_PROXY entry, as written, that made the target bypass the proxy; null otherwise. */
  readonly no_proxy_entry: string | null;
}

/** The route to `host:port` given the proxy for its scheme (SPEC §7). */
export function explainRoute(
  proxy: ParsedProxyUrl | undefined,
  noProxy: NoProxyMatcher,
  host: string,
  port: number,
): RouteExplanation {
  if (proxy === undefined) return { route: 'direct', proxy: null, no_proxy_entry: null };
  const entry = noProxy.matchingEntry(host, port);
  if (entry !== undefined) return { route: 'direct', proxy: null, no_proxy_entry: entry };
  return { route: 'proxy', proxy: proxy.redacted, no_proxy_entry: null };
}

// Stands in for the workload's token: explain never holds a real one.
const PROBE = 'explain-probe';

/** Who the proxy would take the workload for. */
export interface IdentityExplanation {
  /** The identity, or null (anonymous). */
  readonly name: string | null;
  /** `agent` (per-identity tokens), `shared_token` (CLEF_PROXY_TOKEN for every username), `waived` (Lambda). */
  readonly mode: 'agent' | 'shared_token' | 'waived';
  /** False when the CONNECT would be refused with 407. */
  readonly admitted: boolean;
}

/**
 * Run {@link authenticate} as the workload would be run, assuming it presents the right token for `identity`: a
 * table's own digest when the agent lists the name, the shared token otherwise. No real token is involved.
 */
export function explainIdentity(
  identity: string | undefined,
  identities: IdentityTable | undefined,
  waived: boolean,
): IdentityExplanation {
  const mode = waived ? 'waived' : identities === undefined ? 'shared_token' : 'agent';
  const digest = createHash('sha256').update(PROBE).digest();
  // A table where the named identity's token is the probe: the same lookup and checks the proxy runs.
  const table =
    identities === undefined
      ? undefined
      : {
          byName: new Map(
            identity !== undefined && identities.byName.has(identity) ? [[identity, digest]] : [],
          ),
        };
  // No --identity: the username is empty, which the shared token admits anonymously and an agent table refuses.
  const header = `Basic ${Buffer.from(`${identity ?? ''}:${PROBE}`).toString('base64')}`;
  const result = authenticate(header, waived ? null : digest, table);
  return { name: result.ok ? result.identity : null, mode, admitted: result.ok };
}
