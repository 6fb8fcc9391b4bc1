/**
 * The config file's wire schema (SPEC §3): snake_case JSON, every default, unknown keys rejected at every level.
 * Host entries, the listen address and URLs are parsed here, once (by `text-values.ts`), so nothing downstream
 * re-validates.
 * Messages never quote the value they reject; `summarize.ts` decides what may be quoted (never a URL).
 */
import * as v from 'valibot';
import { parseCidr } from '../net/ip-bytes.js';
import { parseNoProxy } from '../net/no-proxy.js';
import { quoteInput } from '../net/quote.js';
import { auditUrlProblem, headerNameProblem, headerValueProblem } from './audit-fields.js';
import { byShape } from './summarize.js';
import {
  agentUrlProblem,
  normalizeAgentUrl,
  type Parsed,
  parseAdminListen,
  parseListen,
  proxyUrlProblem,
  safeParseHostEntry,
} from './text-values.js';
import { DEFAULT_AGENT, DEFAULT_AUDIT_BATCHING, DEFAULT_LIMITS } from './types.js';

/** A non-negative safe integer check that never coerces (JSON `"5"` is an error, not 5). */
function intAtLeast(min: number, message: string) {
  return v.custom<number>((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= min, message);
}

const positiveInt = intAtLeast(1, 'expected a positive integer');
const nonNegativeInt = intAtLeast(0, 'expected a non-negative integer');
const nonEmptyString = v.pipe(v.string('expected a string'), v.minLength(1, 'expected a non-empty string'));

/** One message function for every strict object: wrong type, missing key, unknown key. */
function objectMessage(issue: v.StrictObjectIssue): string {
  if (issue.expected === 'never') return 'unknown key';
  if (issue.expected?.startsWith('"')) return 'required';
  return 'expected an object';
}

/** A string parsed by `parse`; its failure reason becomes the issue on this path. */
function parsed<T>(parse: (text: string) => Parsed<T>) {
  return v.pipe(
    v.string('expected a string'),
    v.rawTransform<string, T>(({ dataset, addIssue, NEVER }) => {
      const r = parse(dataset.value);
      if (r.ok) return r.value;
      addIssue({ message: r.reason });
      return NEVER;
    }),
  );
}

/** Turn a `problem` check into a parser that maps accepted text with `map`. */
function checkedBy<T>(problem: (text: string) => string | undefined, map: (text: string) => T) {
  return (text: string): Parsed<T> => {
    const reason = problem(text);
    return reason === undefined ? { ok: true, value: map(text) } : { ok: false, reason };
  };
}

const noProxyList = v.pipe(
  v.string('expected a string'),
  v.rawCheck<string>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    for (const bad of parseNoProxy(dataset.value).invalid)
      addIssue({ message: `invalid entry ${quoteInput(bad)}` });
  }),
);

const agentSchema = v.strictObject(
  {
    url: v.optional(parsed(checkedBy(agentUrlProblem, normalizeAgentUrl))),
    ready_timeout_ms: v.optional(positiveInt, DEFAULT_AGENT.readyTimeoutMs),
    services_refresh_ms: v.optional(positiveInt, DEFAULT_AGENT.servicesRefreshMs),
    // 0 = no cache: every request fetches (SPEC §5).
    secret_ttl_ms: v.optional(nonNegativeInt, DEFAULT_AGENT.secretTtlMs),
  },
  objectMessage,
);

/** A checked string: `problem` names what is wrong with it, or returns undefined. */
function checkedString(problem: (text: string) => string | undefined) {
  return v.pipe(
    v.string('expected a string'),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      const why = dataset.typed ? problem(dataset.value) : undefined;
      if (why !== undefined) addIssue({ message: why });
    }),
  );
}

/** Header names are checked here, values are templates (`config/audit-fields.ts`); neither is ever quoted. */
const headersSchema = v.record(
  checkedString(headerNameProblem),
  checkedString(headerValueProblem),
  'expected an object of header names to values',
);

/** `batch_max`, `flush_ms`, `queue_max`: shared by the shipping sinks. */
const batching = {
  batch_max: v.optional(positiveInt, DEFAULT_AUDIT_BATCHING.batchMax),
  flush_ms: v.optional(positiveInt, DEFAULT_AUDIT_BATCHING.flushMs),
  queue_max: v.optional(positiveInt, DEFAULT_AUDIT_BATCHING.queueMax),
  headers: v.optional(headersSchema, {}),
};

const auditSinkSchema = v.variant(
  'sink',
  [
    v.strictObject({ sink: v.literal('stdout') }, objectMessage),
    v.strictObject(
      {
        sink: v.literal('file'),
        path: nonEmptyString,
        max_bytes: v.optional(positiveInt, 10_485_760),
        max_files: v.optional(positiveInt, 5),
      },
      objectMessage,
    ),
    v.strictObject(
      {
        sink: v.literal('webhook'),
        url: parsed(
          checkedBy(
            (s) => auditUrlProblem(s, true),
            (s) => s,
          ),
        ),
        ...batching,
      },
      objectMessage,
    ),
    v.strictObject(
      {
        sink: v.literal('otlp'),
        endpoint: parsed(
          checkedBy(
            (s) => auditUrlProblem(s, false),
            (s) => s.replace(/\/+$/, ''),
          ),
        ),
        ...batching,
      },
      objectMessage,
    ),
  ],
  (issue) =>
    issue.path?.length ? 'expected "stdout", "file", "webhook" or "otlp"' : 'expected an object or a list',
);

const auditSinkList = v.pipe(
  v.array(auditSinkSchema, 'expected an object or a list'),
  v.minLength(1, 'needs at least one sink'),
);
const pickAuditSchema = (value: unknown) => (Array.isArray(value) ? auditSinkList : auditSinkSchema);

/**
 * One sink, or a non-empty list of sinks that each fail independently (docs/audit.md); always a list once parsed.
 * Not a `v.union`: a union folds its options' issues into one, and every issue must keep its own path.
 */
const auditSchema = byShape(
  v.pipe(
    v.unknown(),
    v.rawTransform<unknown, AuditSinkWire[]>(({ dataset, addIssue, NEVER }) => {
      const r = v.safeParse(pickAuditSchema(dataset.value), dataset.value, {
        message: (issue) => `expected ${issue.expected}`,
      });
      if (r.success) return Array.isArray(r.output) ? r.output : [r.output as AuditSinkWire];
      for (const issue of r.issues)
        addIssue({ message: issue.message, input: issue.input, path: issue.path });
      return NEVER;
    }),
  ),
  pickAuditSchema,
);

/** One audit sink as the file spells it. */
export type AuditSinkWire = v.InferOutput<typeof auditSinkSchema>;
/** One `egress.allow_private` entry: a CIDR (`10.0.0.0/8`, `fd00::/8`) or a single address, host bits clear. */
const cidrEntry = parsed((text) =>
  parseCidr(text) === undefined
    ? { ok: false, reason: `invalid CIDR ${quoteInput(text)} (expected e.g. 10.0.0.0/8, host bits zero)` }
    : { ok: true, value: text },
);

/** The destination guard's settings (issue 13, docs/configuration.md `egress`). */
const egressSchema = v.strictObject(
  { allow_private: v.optional(v.array(cidrEntry, 'expected an array of CIDRs'), []) },
  objectMessage,
);

const limitsSchema = v.strictObject(
  {
    max_connections: v.optional(positiveInt, DEFAULT_LIMITS.maxConnections),
    max_header_bytes: v.optional(positiveInt, DEFAULT_LIMITS.maxHeaderBytes),
    header_timeout_ms: v.optional(positiveInt, DEFAULT_LIMITS.headerTimeoutMs),
    handshake_timeout_ms: v.optional(positiveInt, DEFAULT_LIMITS.handshakeTimeoutMs),
    idle_timeout_ms: v.optional(positiveInt, DEFAULT_LIMITS.idleTimeoutMs),
    upstream_connect_timeout_ms: v.optional(positiveInt, DEFAULT_LIMITS.upstreamConnectTimeoutMs),
    upstream_response_timeout_ms: v.optional(positiveInt, DEFAULT_LIMITS.upstreamResponseTimeoutMs),
    leaf_cache_size: v.optional(positiveInt, DEFAULT_LIMITS.leafCacheSize),
    max_concurrent_streams: v.optional(positiveInt, DEFAULT_LIMITS.maxConcurrentStreams),
  },
  objectMessage,
);

/** SPEC §3, exactly. Only `listen` is required. */
export const ConfigSchema = v.strictObject(
  {
    listen: parsed(parseListen),
    ca_dir: v.optional(nonEmptyString),
    agent: v.optional(agentSchema, {}),
    passthrough_hosts: v.optional(v.array(parsed(safeParseHostEntry), 'expected an array of hosts'), []),
    audit: v.optional(auditSchema, [{ sink: 'stdout' }]),
    upstream_proxy: v.optional(
      v.strictObject(
        { url: parsed(checkedBy(proxyUrlProblem, (s) => s)), no_proxy: v.optional(noProxyList, '') },
        objectMessage,
      ),
    ),
    upstream_ca_file: v.optional(nonEmptyString),
    drain_timeout_ms: v.optional(positiveInt),
    // `workers` (issue 14): processes sharing the listener; "auto" = os.availableParallelism(). 1 = no cluster.
    workers: v.optional(
      v.union([positiveInt, v.literal('auto')], 'expected a positive integer or "auto"'),
      1,
    ),
    limits: v.optional(limitsSchema, {}),
    admin: v.optional(v.strictObject({ listen: parsed(parseAdminListen) }, objectMessage)),
    egress: v.optional(egressSchema, {}),
    log_level: v.optional(
      v.picklist(
        ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
        'expected one of trace, debug, info, warn, error, fatal, silent',
      ),
      'info',
    ),
  },
  objectMessage,
);

/** The parsed file, still snake_case; `load.ts` maps it to the frozen camelCase `ProxyConfig`. */
export type WireConfig = v.InferOutput<typeof ConfigSchema>;
