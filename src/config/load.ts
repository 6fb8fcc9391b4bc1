/**
 * Read the config file, validate it against the wire schema and return the frozen camelCase `ProxyConfig`
 * (SPEC §3). Every failure is one `StartupError` with exit 2 listing every issue (SPEC §1). JSON errors give a
 * line and column but never quote the file: V8's own messages can include a slice of it, and the file may hold
 * the upstream proxy's password.
 */
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';
import { ExitCode, StartupError } from '../exit-codes.js';
import type { HostEntry } from '../net/host-pattern.js';
import { type AuditSinkWire, ConfigSchema, type WireConfig } from './schema.js';
import { isUnknownKeyIssue, structureLines, summarizeIssues } from './summarize.js';
import type { AuditSettings, ProxyConfig } from './types.js';

/** The result of {@link parseConfig}: a config, or every issue as a `<path>: <message>` line. */
export type ParseConfigResult =
  | { readonly ok: true; readonly config: ProxyConfig }
  | { readonly ok: false; readonly issues: readonly string[] };

// Sticky scanners for the JSON grammar (RFC 8259), compiled once; used only after JSON.parse has failed.
const WS = /[ \t\n\r]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const LITERAL = /true|false|null/y;
const V8_POSITION = /^(.*?)(?: in JSON)? at position (\d+)$/;

/** Offset of the first JSON syntax error in `s`, or -1 if none could be located. */
export function locateJsonError(s: string): number {
  let i = 0;
  const eat = (re: RegExp): boolean => {
    re.lastIndex = i;
    if (!re.test(s)) return false;
    i = re.lastIndex;
    return true;
  };
  const container = (close: string, member: () => void): void => {
    i++;
    eat(WS);
    if (s[i] === close) return void i++;
    for (;;) {
      member();
      eat(WS);
      if (s[i] === ',') i++;
      else if (s[i] === close) return void i++;
      else throw i;
    }
  };
  const value = (): void => {
    eat(WS);
    if (s[i] === '{') {
      container('}', () => {
        eat(WS);
        if (!eat(STRING)) throw i;
        eat(WS);
        if (s[i] !== ':') throw i;
        i++;
        value();
      });
    } else if (s[i] === '[') container(']', value);
    else if (!eat(STRING) && !eat(NUMBER) && !eat(LITERAL)) throw i;
  };
  try {
    value();
    eat(WS);
    return i < s.length ? i : -1;
  } catch (e) {
    return typeof e === 'number' ? e : -1; // RangeError on absurd nesting: no location
  }
}

/** Parse JSON text; on failure, a reason with line and column and no text from the file. */
export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false; reason: string } {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text; // editors on Windows add a BOM
  if (body.trim() === '') return { ok: false, reason: 'invalid JSON: the file is empty' };
  try {
    return { ok: true, value: JSON.parse(body) };
  } catch (e) {
    const m = V8_POSITION.exec(e instanceof Error ? e.message : '');
    const at = m ? Number(m[2]) : locateJsonError(body);
    // V8's "<what> [in JSON] at position N" descriptions hold no file text; its other messages quote the file.
    const what = m ? `: ${m[1]?.charAt(0).toLowerCase()}${m[1]?.slice(1)}` : '';
    if (at < 0 || at >= body.length)
      return { ok: false, reason: `invalid JSON: unexpected end of input${what}` };
    const before = body.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    return { ok: false, reason: `invalid JSON at line ${line}, column ${column}${what}` };
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** First occurrence of each host entry wins; duplicates add nothing (same `key`, same meaning). */
function uniqueHosts(hosts: readonly HostEntry[]): HostEntry[] {
  const byKey = new Map<string, HostEntry>();
  for (const h of hosts) if (!byKey.has(h.key)) byKey.set(h.key, h);
  return [...byKey.values()];
}

function toAuditSettings(a: AuditSinkWire): AuditSettings {
  switch (a.sink) {
    case 'stdout':
      return { sink: 'stdout' };
    case 'file':
      return { sink: 'file', path: a.path, maxBytes: a.max_bytes, maxFiles: a.max_files };
    case 'webhook':
    case 'otlp': {
      const batching = { batchMax: a.batch_max, flushMs: a.flush_ms, queueMax: a.queue_max };
      // Still templates: resolveServe expands `$NAME` references against the environment.
      const headers = { ...a.headers };
      return a.sink === 'webhook'
        ? { sink: 'webhook', url: a.url, headers, ...batching }
        : { sink: 'otlp', endpoint: a.endpoint, headers, ...batching };
    }
  }
}

function toProxyConfig(w: WireConfig): ProxyConfig {
  const l = w.limits;
  return deepFreeze<ProxyConfig>({
    listen: w.listen,
    caDir: w.ca_dir,
    agent: {
      url: w.agent.url ?? '', // CLEF_PROXY_AGENT_URL may supply it; resolve.ts checks one exists
      readyTimeoutMs: w.agent.ready_timeout_ms,
      servicesRefreshMs: w.agent.services_refresh_ms,
      secretTtlMs: w.agent.secret_ttl_ms,
    },
    passthroughHosts: uniqueHosts(w.passthrough_hosts),
    audit: w.audit.map(toAuditSettings),
    upstreamProxy: w.upstream_proxy && { url: w.upstream_proxy.url, noProxy: w.upstream_proxy.no_proxy },
    upstreamCaFile: w.upstream_ca_file,
    drainTimeoutMs: w.drain_timeout_ms,
    workers: w.workers,
    limits: {
      maxConnections: l.max_connections,
      maxHeaderBytes: l.max_header_bytes,
      headerTimeoutMs: l.header_timeout_ms,
      handshakeTimeoutMs: l.handshake_timeout_ms,
      idleTimeoutMs: l.idle_timeout_ms,
      upstreamConnectTimeoutMs: l.upstream_connect_timeout_ms,
      upstreamResponseTimeoutMs: l.upstream_response_timeout_ms,
      leafCacheSize: l.leaf_cache_size,
      maxConcurrentStreams: l.max_concurrent_streams,
    },
    egress: { allowPrivate: w.egress.allow_private },
    logLevel: w.log_level,
    admin: w.admin && { listen: w.admin.listen },
  });
}

/** Validate an already-parsed JSON value. Pure: never throws for a bad config, returns every issue instead. */
export function parseConfig(raw: unknown): ParseConfigResult {
  // A fallback message for any issue a schema left without its own, so valibot's default text (which quotes
  // the received value) can never appear.
  const result = v.safeParse(ConfigSchema, raw, { message: (issue) => `expected ${issue.expected}` });
  const structure = structureLines(ConfigSchema, raw);
  if (result.success && structure.length === 0) return { ok: true, config: toProxyConfig(result.output) };
  const issues = result.success ? [] : result.issues;
  // Schema issues first, then the structural ones in document order. valibot's own unknown-key issues are a
  // fallback only, so none is lost should the walk ever miss a kind of schema.
  const lines = summarizeIssues(issues.filter((i) => !isUnknownKeyIssue(i)));
  const fallback = structure.length > 0 ? [] : summarizeIssues(issues.filter(isUnknownKeyIssue));
  for (const line of [...structure, ...fallback]) if (!lines.includes(line)) lines.push(line);
  return { ok: false, issues: Object.freeze(lines) };
}

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory',
};

/**
 * Read and validate the config file at `path` (SPEC §3). Throws `StartupError(ExitCode.InvalidConfig)` for an
 * unreadable file, invalid JSON (with line and column) or schema issues (the first in the message, the rest in `details`).
 */
export async function loadConfigFile(path: string): Promise<ProxyConfig> {
  const what = `invalid config ${path}`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw new StartupError(
      ExitCode.InvalidConfig,
      what,
      `cannot read the file: ${READ_ERRORS[code] ?? (code || 'unreadable')}`,
      {
        cause: e,
      },
    );
  }
  const json = parseJsonText(text);
  if (!json.ok) throw new StartupError(ExitCode.InvalidConfig, what, json.reason);
  const parsed = parseConfig(json.value);
  if (parsed.ok) return parsed.config;
  // SPEC §1: every issue at once — the first on the error line, the rest on the lines right after it.
  throw new StartupError(ExitCode.InvalidConfig, what, parsed.issues[0] ?? 'invalid', {
    details: parsed.issues.slice(1),
  });
}
