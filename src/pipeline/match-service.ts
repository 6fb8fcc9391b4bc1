/**
 * Which service, if any, a request inside an intercepted tunnel belongs to (SPEC §6 "Per request" → match,
 * SPEC §5 `path_prefix`), and the request-target checks that make a path match safe to act on.
 *
 * Paths are compared exactly as sent — no percent-decoding, case-sensitive (RFC 3986 §6.2.1). A request that
 * only matches after decoding (`/%76%31/x` against `/v1`) does not match, so the mismatch can only withhold a
 * credential, never add one. The one way an as-sent match could still reach a path the service does not name is
 * an upstream that normalises dot segments after us (`/v1/../admin` → `/admin`); {@link parseRequestTarget}
 * refuses those in every spelling it knows of.
 */
import type { Service, ServiceIndex } from '../agent/source.js';
import { wildcardSuffixKeys } from '../net/host-pattern.js';
import type { HostPort } from '../net/host-port.js';
import { deny, ok, type Step } from './types.js';

/** A request target split at its first `?`; `query` excludes the `?` and is undefined when there is none. */
export interface PathQuery {
  readonly path: string;
  readonly query: string | undefined;
}

/** Split a raw request target at the first `?` (RFC 3986 §3.4: the query starts at the first `?`). */
export function splitPathQuery(rawTarget: string): PathQuery {
  const q = rawTarget.indexOf('?');
  if (q < 0) return { path: rawTarget, query: undefined };
  return { path: rawTarget.slice(0, q), query: rawTarget.slice(q + 1) };
}

// Any `%25` (an encoded `%`): decoded repeatedly so `%252e` is seen as the `%2e` a double-decoding server makes.
const ENCODED_PERCENT = /%25/gi;
// Segment separators as any upstream might read them: `/`, `%2F`, and `\` / `%5C` (IIS and some frameworks
// treat backslash as a slash).
const SEPARATOR = /\/|\\|%2f|%5c/i;
const ENCODED_DOT = /%2e/gi;

/**
 * True when some segment of `path` is `.` or `..` in any spelling: literal, `%2e`, double-encoded `%252e`, with
 * a `;param` suffix (Tomcat strips `;…` before normalising, so `..;x` is `..`), or between encoded or
 * backslash separators.
 */
export function hasDotSegment(path: string): boolean {
  let p = path;
  // Terminates: each pass shortens the string by two characters per `%25`.
  while (p.includes('%25')) p = p.replace(ENCODED_PERCENT, '%');
  // Cheap exit for the common case: no dot in any spelling means no dot segment.
  if (!p.includes('.') && !p.includes('%2e') && !p.includes('%2E')) return false;
  for (const piece of p.split(SEPARATOR)) {
    const semi = piece.indexOf(';');
    const bare = (semi < 0 ? piece : piece.slice(0, semi)).replace(ENCODED_DOT, '.');
    if (bare === '.' || bare === '..') return true;
  }
  return false;
}

/**
 * Validate a request target from inside the tunnel and split it.
 *
 * Only origin-form (`/path?query`, RFC 9112 §3.2.1) is accepted: absolute-form and asterisk-form have no place
 * inside a tunnel to one host. Refused as `bad_request`: a target not starting with `/`; a `#` (fragments are
 * not part of a request target, and an appended query would land inside one); any dot segment
 * ({@link hasDotSegment}) — clients remove those before sending (RFC 3986 §5.2.4), so only a request built to
 * escape a `path_prefix` at the upstream carries one. Encoded slashes alone (`/projects/a%2Fb`, common in APIs)
 * stay allowed: without a dot segment they cannot climb out of a prefix.
 */
export function parseRequestTarget(rawTarget: string): Step<PathQuery> {
  if (rawTarget.charCodeAt(0) !== 0x2f /* / */) return deny('bad_request');
  if (rawTarget.includes('#')) return deny('bad_request');
  const split = splitPathQuery(rawTarget);
  if (hasDotSegment(split.path)) return deny('bad_request');
  return ok(split);
}

/**
 * Segment-boundary prefix match (SPEC §5): `/v1` matches `/v1`, `/v1/`, `/v1/x`, not `/v10`; `/` matches
 * every path. A prefix ending in `/` is matched as a plain prefix.
 */
export function pathMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  if (path.length === prefix.length || prefix.endsWith('/')) return true;
  return path.charCodeAt(prefix.length) === 0x2f;
}

/** The match outcome: a service to inject for, or (passthrough host only) forward the request unchanged. */
export type MatchResult =
  | { readonly kind: 'service'; readonly service: Service }
  | { readonly kind: 'forward' };

/** Inputs to {@link matchService}; one object so callers name every field. */
export interface MatchArgs {
  readonly index: ServiceIndex;
  readonly target: HostPort;
  /** The path only, without the query (from {@link parseRequestTarget}). */
  readonly path: string;
  /** The `X-Clef-Service` header value, undefined when absent. */
  readonly clefService: string | undefined;
  /** Whether `target` is also covered by a passthrough entry (exact or wildcard). */
  readonly isPassthrough: boolean;
}

const FORWARD: Step<MatchResult> = Object.freeze({ ok: true, value: Object.freeze({ kind: 'forward' }) });

/**
 * Pick the service for a request (SPEC §6, issue 12 precedence). A *candidate* is a service with a host entry
 * covering `target` (exact `host:port`, or a wildcard `*.suffix:port`) and a `path_prefix` matching `path`.
 *
 * - `X-Clef-Service` present ⇒ it must name a candidate (exact, case-sensitive name) — any candidate, whatever its
 *   rank: the client names its service outright — else `service_not_allowed`, even with one candidate, and even
 *   with none on a passthrough host: a client that asked for a credential is told it cannot have it rather than
 *   silently forwarded without one. A service of another host or path is never a candidate, so the header can
 *   never pull a credential onto this request.
 * - no header: the candidates of the most specific host tier that has any win (exact beats wildcard, a longer
 *   wildcard suffix beats a shorter one); among those the longest `path_prefix` wins; a tie of two or more ⇒
 *   `ambiguous_service` with `extras.candidates` = the tied names in definition order. No candidate at all ⇒
 *   `forward` on a passthrough host, else `no_matching_service`.
 *
 * Exact tiers are one `Map` hit; wildcard tiers are visited by walking the target's suffixes, longest first, and
 * only when the index holds any wildcard.
 */
export function matchService(args: MatchArgs): Step<MatchResult> {
  const { index, target, path } = args;
  const exact = index.byHost.get(target.key);
  const wild = index.byWildcard !== undefined && index.byWildcard.size > 0 ? index.byWildcard : undefined;
  const header = args.clefService;
  if (header !== undefined) {
    const named =
      (exact && namedIn(exact, header, path)) ||
      (wild && wildcardSuffixKeys(target, (key) => namedIn(wild.get(key), header, path)));
    return named ? ok({ kind: 'service', service: named }) : deny('service_not_allowed');
  }
  const picked =
    (exact && pickInTier(exact, path)) ||
    (wild && wildcardSuffixKeys(target, (key) => pickInTier(wild.get(key), path)));
  if (picked) return picked;
  return args.isPassthrough ? FORWARD : deny('no_matching_service');
}

/** The service of `tier` named `name` whose prefix matches `path`, if any. */
function namedIn(tier: readonly Service[] | undefined, name: string, path: string): Service | undefined {
  if (tier === undefined) return undefined;
  for (const s of tier) if (s.name === name && pathMatches(s.pathPrefix, path)) return s;
  return undefined;
}

/**
 * Within one host tier: the one service with the longest matching `path_prefix`, `ambiguous_service` for a tie,
 * undefined when no prefix in the tier matches (the next, less specific tier is then tried).
 */
function pickInTier(tier: readonly Service[] | undefined, path: string): Step<MatchResult> | undefined {
  if (tier === undefined) return undefined;
  let best: Service | undefined;
  let tied: Service[] | undefined;
  for (const s of tier) {
    if (!pathMatches(s.pathPrefix, path)) continue;
    if (best === undefined || s.pathPrefix.length > best.pathPrefix.length) {
      best = s;
      tied = undefined;
    } else if (s.pathPrefix.length === best.pathPrefix.length) {
      if (tied === undefined) tied = [best, s];
      else tied.push(s);
    }
  }
  if (best === undefined) return undefined;
  if (tied !== undefined) return deny('ambiguous_service', { candidates: tied.map(nameOf) });
  return ok({ kind: 'service', service: best });
}

function nameOf(service: Service): string {
  return service.name;
}
