/**
 * The services document (SPEC §5): its valibot wire schema, and the frozen {@link ServiceIndex} built from it once
 * per revision so the hot path never re-validates (STYLE habit 4). A document with any bad field is rejected as a
 * whole: a half-applied service set could route a credential by a rule nobody wrote.
 */
import * as v from 'valibot';
import { type HostEntry, parseHostEntry } from '../net/host-pattern.js';
import { parseTemplate } from '../pipeline/template.js';
import { IDENTITY_PATTERN_RE } from './identities.js';
import type { Service, ServiceAuth, ServiceIndex } from './source.js';

// RFC 9110 §5.6.2 token characters: what a header name may hold.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A path prefix is compared with request paths (no query, no fragment), so those characters could never match.
const PATH_PREFIX_RE = /^\/[^?#\s\x00-\x1f\x7f]*$/;
// RFC 9110 §5.5 field-value characters (HTAB, SP, VCHAR, obs-text): the prefix is written verbatim into a header.
const FIELD_VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CONTROL_RE = /[\x00-\x1f\x7f]/;

/**
 * Headers a credential may not be written into: framing and routing headers (a value there could smuggle or
 * misroute the request) and the ones the proxy itself strips (SPEC §6), which would silently drop the credential.
 */
const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'x-clef-service',
]);

const Secret = v.pipe(v.string(), v.minLength(1, 'secret must be a non-empty key'));

const Name = v.pipe(
  v.string(),
  v.minLength(1, 'name must not be empty'),
  // The name travels in `X-Clef-Service`, whose value Node trims and which cannot hold control characters.
  v.check(
    (s) => s.trim() === s && !CONTROL_RE.test(s),
    'name must not hold control characters or edge spaces',
  ),
);

const HostEntrySchema = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const parsed = parseHostEntry(dataset.value);
    if (parsed.ok) return parsed.value;
    addIssue({ message: `invalid host entry: ${parsed.reason}` });
    return NEVER;
  }),
);

const PathPrefix = v.optional(
  v.pipe(
    v.string(),
    v.regex(PATH_PREFIX_RE, 'path_prefix must start with "/" and hold no query, fragment or spaces'),
    // `/v1/` and `/v1` mean the same segment-boundary match (SPEC §5); keep one spelling.
    v.transform((p) => p.replace(/\/+$/, '') || '/'),
  ),
  '/',
);

const HeaderName = v.pipe(
  v.string(),
  v.regex(TOKEN_RE, 'header must be a valid HTTP header name'),
  v.check((h) => !FORBIDDEN_HEADERS.has(h.toLowerCase()), 'header cannot carry a credential'),
);

/** A `{{secret:NAME}}` template, parsed once here so requests only concatenate (`pipeline/template.ts`). */
const TemplateText = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const parsed = parseTemplate(dataset.value);
    if (parsed.ok) return { text: dataset.value, parts: parsed.parts, secrets: parsed.secrets };
    addIssue({ message: parsed.reason });
    return NEVER;
  }),
);

const Auth = v.variant('type', [
  v.strictObject({ type: v.literal('bearer'), secret: Secret }),
  v.strictObject({
    type: v.literal('api_key_header'),
    header: HeaderName,
    secret: Secret,
    prefix: v.optional(v.pipe(v.string(), v.regex(FIELD_VALUE_RE, 'prefix holds a control character')), ''),
  }),
  v.strictObject({
    type: v.literal('api_key_query'),
    param: v.pipe(v.string(), v.minLength(1, 'param must not be empty')),
    secret: Secret,
  }),
  v.pipe(
    v.strictObject({
      type: v.literal('basic'),
      // RFC 7617 §2: the user-id cannot hold a colon (the first colon ends it). May be empty.
      username: v.optional(
        v.pipe(
          v.string(),
          v.check(
            (u) => !u.includes(':') && !CONTROL_RE.test(u),
            'username holds a colon or a control character',
          ),
        ),
      ),
      username_secret: v.optional(Secret),
      secret: Secret,
    }),
    v.check(
      (a) => (a.username === undefined) !== (a.username_secret === undefined),
      'basic needs exactly one of username and username_secret',
    ),
  ),
  v.pipe(
    v.strictObject({
      type: v.literal('template'),
      header: v.optional(HeaderName),
      query: v.optional(v.pipe(v.string(), v.minLength(1, 'query must not be empty'))),
      template: TemplateText,
    }),
    v.check(
      (a) => (a.header === undefined) !== (a.query === undefined),
      'template needs exactly one of header and query',
    ),
  ),
]);

/** One service as the agent sends it (SPEC §5). Strict: an unknown field may be a rule we would ignore. */
export const ServiceSchema = v.strictObject({
  name: Name,
  hosts: v.pipe(v.array(HostEntrySchema), v.minLength(1, 'hosts must name at least one host')),
  path_prefix: PathPrefix,
  auth: Auth,
  identities: v.optional(
    v.array(
      v.pipe(
        v.string(),
        v.regex(IDENTITY_PATTERN_RE, 'an identity must be 1–128 characters without spaces, controls or ":"'),
      ),
    ),
  ),
});

/** The `/v1/services` body. Extra top-level metadata is ignored; the services themselves are strict. */
export const ServicesDocSchema = v.object({
  revision: v.pipe(v.string(), v.minLength(1, 'revision must not be empty')),
  services: v.array(ServiceSchema),
});

/** A service in wire format, as a static source or the fixture agent takes it. */
export type ServiceInput = v.InferInput<typeof ServiceSchema>;

/** The outcome of validating a services document or list. */
export type ServicesParseResult =
  | { readonly ok: true; readonly index: ServiceIndex }
  | { readonly ok: false; readonly issues: string[] };

type WireService = v.InferOutput<typeof ServiceSchema>;

function formatIssues(issues: readonly v.BaseIssue<unknown>[], base: string): string[] {
  return issues.map((issue) => {
    const path = v.getDotPath(issue);
    const full = path === null ? base : base === '' ? path : `${base}.${path}`;
    return `${full === '' ? '(root)' : full}: ${issue.message}`;
  });
}

/** The wire auth → the normalised {@link ServiceAuth} (camelCase, every optional field present). */
function toAuth(a: WireService['auth']): ServiceAuth {
  switch (a.type) {
    case 'api_key_header':
      return { type: 'api_key_header', header: a.header, secret: a.secret, prefix: a.prefix };
    case 'basic':
      return { type: 'basic', username: a.username, usernameSecret: a.username_secret, secret: a.secret };
    case 'template':
      return {
        type: 'template',
        header: a.header,
        query: a.query,
        template: a.template.text,
        parts: a.template.parts,
        secrets: a.template.secrets,
      };
    default:
      return a;
  }
}

function toService(wire: WireService): Service {
  const auth = toAuth(wire.auth);
  // One host written twice in a service must not make that service a candidate twice (SPEC §6 matching).
  const hosts = new Map<string, HostEntry>();
  for (const h of wire.hosts) if (!hosts.has(h.key)) hosts.set(h.key, h);
  const service: Service = {
    name: wire.name,
    hosts: Object.freeze([...hosts.values()]),
    pathPrefix: wire.path_prefix,
    auth: Object.freeze({ ...auth }),
    // Only when listed: a service without the key stays open to every admitted workload (check-identity.ts).
    ...(wire.identities === undefined ? {} : { identities: Object.freeze([...wire.identities]) }),
  };
  return Object.freeze(service);
}

/** Names must be unique (compared case-insensitively, as `X-Clef-Service` picks one by name). */
function duplicateNames(services: readonly WireService[], base: string): string[] {
  const seen = new Map<string, number>();
  const issues: string[] = [];
  services.forEach((s, i) => {
    const lower = s.name.toLowerCase();
    const first = seen.get(lower);
    if (first === undefined) seen.set(lower, i);
    else issues.push(`${base}${i}.name: duplicate service name "${s.name}" (also at index ${first})`);
  });
  return issues;
}

/**
 * Build the immutable lookup for one revision: `byHost` maps each exact `HostPort.key` to the services naming it,
 * `byWildcard` each wildcard's `suffixKey`, both in definition order.
 */
export function buildServiceIndex(revision: string, services: readonly Service[]): ServiceIndex {
  const byHost = new Map<string, Service[]>();
  const byWildcard = new Map<string, Service[]>();
  for (const service of services) {
    for (const host of service.hosts) {
      const map = host.kind === 'wildcard' ? byWildcard : byHost;
      const key = host.kind === 'wildcard' ? host.suffixKey : host.key;
      const list = map.get(key);
      if (list) list.push(service);
      else map.set(key, [service]);
    }
  }
  for (const list of byHost.values()) Object.freeze(list);
  for (const list of byWildcard.values()) Object.freeze(list);
  return Object.freeze({ revision, services: Object.freeze([...services]), byHost, byWildcard });
}

/** Validate a bare list of wire-format services (the static source's input) under a given revision. */
export function parseServiceList(raw: unknown, revision: string): ServicesParseResult {
  const result = v.safeParse(v.array(ServiceSchema), raw);
  if (!result.success) return { ok: false, issues: formatIssues(result.issues, 'services') };
  const dups = duplicateNames(result.output, 'services.');
  if (dups.length > 0) return { ok: false, issues: dups };
  return { ok: true, index: buildServiceIndex(revision, result.output.map(toService)) };
}

/**
 * Validate a whole `/v1/services` document. Every issue is reported with its dot path (e.g.
 * `services.2.auth.header: …`); any issue rejects the document.
 */
export function parseServicesDoc(raw: unknown): ServicesParseResult {
  const result = v.safeParse(ServicesDocSchema, raw);
  if (!result.success) return { ok: false, issues: formatIssues(result.issues, '') };
  const dups = duplicateNames(result.output.services, 'services.');
  if (dups.length > 0) return { ok: false, issues: dups };
  return {
    ok: true,
    index: buildServiceIndex(result.output.revision, result.output.services.map(toService)),
  };
}
