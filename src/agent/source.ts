/**
 * Where services and secret values come from (SPEC §5, §11): the agent client or a static in-memory source.
 * The core only ever sees this interface.
 */
import type { HostEntry } from '../net/host-pattern.js';
import type { TemplatePart } from '../pipeline/template.js';
import type { IdentityTable } from './identities.js';

export type ServiceAuth =
  | { readonly type: 'bearer'; readonly secret: string }
  | {
      readonly type: 'api_key_header';
      readonly header: string;
      readonly secret: string;
      readonly prefix: string;
    }
  | { readonly type: 'api_key_query'; readonly param: string; readonly secret: string }
  | {
      /** `Authorization: Basic base64(user:secret)` (RFC 7617); exactly one of `username`, `usernameSecret`. */
      readonly type: 'basic';
      readonly username: string | undefined;
      readonly usernameSecret: string | undefined;
      readonly secret: string;
    }
  | {
      /** `{{secret:NAME}}` placeholders rendered into one header or one query parameter (exactly one is set). */
      readonly type: 'template';
      readonly header: string | undefined;
      readonly query: string | undefined;
      readonly template: string;
      /** Parsed once at validation (`pipeline/template.ts`). */
      readonly parts: readonly TemplatePart[];
      /** Each secret name once, in order of first use. */
      readonly secrets: readonly string[];
    };

/** A validated, normalised service definition. */
export interface Service {
  readonly name: string;
  /** Exact entries and wildcards (`*.example.com`), deduplicated by key, in definition order. */
  readonly hosts: readonly HostEntry[];
  /** Always starts with `/`; no trailing slash except for the root prefix `/`. */
  readonly pathPrefix: string;
  readonly auth: ServiceAuth;
  /**
   * Who may use the service: identity names or globs (`*` = any run of characters). Absent = every admitted
   * workload; see `pipeline/check-identity.ts`.
   */
  readonly identities?: readonly string[];
}

/**
 * An immutable lookup structure built once per services revision, so the hot path does no parsing:
 * `byHost.get(hostPort.key)` gives the services naming that exact host, in definition order;
 * `byWildcard.get(suffixKey)` the services naming the wildcard `*.<suffix>:<port>` (see `net/host-pattern.ts`).
 */
export interface ServiceIndex {
  readonly revision: string;
  readonly services: readonly Service[];
  readonly byHost: ReadonlyMap<string, readonly Service[]>;
  /** Absent or empty when no service names a wildcard; keyed by `WildcardHost.suffixKey` (`example.com:443`). */
  readonly byWildcard?: ReadonlyMap<string, readonly Service[]>;
}

/**
 * A source of services and secrets.
 *
 * `secret()` returns the value synchronously on a cache hit (no async hop on the hot path) and a promise otherwise.
 * It rejects (or throws) with a `ProxyError('credential_unavailable')` when the value cannot be had; the request
 * then fails closed.
 */
export interface CredentialSource {
  /** The services in force now (the last good set). */
  services(): ServiceIndex;
  secret(key: string): string | Promise<string>;
  /**
   * The workload identities in force (the agent's `/v1/identities`), or undefined when the source has none: then
   * every username authenticates with the one workload token (`pipeline/authenticate.ts`).
   */
  identities?(): IdentityTable | undefined;
  /** Fetch services again at once (SIGHUP). Optional for static sources. */
  refresh?(): Promise<void>;
  /** Subscribe to new service sets; returns the unsubscribe function. */
  onServices?(listener: (index: ServiceIndex) => void): () => void;
  /** Stop timers and close sockets. */
  close?(): Promise<void>;
  /** For `/readyz`: when the agent last answered, and how often it is asked. Absent for static sources. */
  health?(): SourceHealth;
  /** For `/metrics`: counters kept since the source started. */
  stats?(): SourceStats;
}

/** See {@link CredentialSource.health}. */
export interface SourceHealth {
  /** `Date.now()` of the last successful agent answer (ready, services or secret), undefined before any. */
  readonly lastContactMs: number | undefined;
  /** `agent.services_refresh_ms`. */
  readonly refreshMs: number;
}

/** See {@link CredentialSource.stats}. */
export interface SourceStats {
  readonly secretCacheHits: number;
  readonly secretCacheMisses: number;
  /** Services refreshes that failed or were rejected (the last good set was kept). */
  readonly refreshFailures: number;
}
