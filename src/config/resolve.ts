/**
 * Combine the loaded config with the environment into what `serve` runs on, applying the startup checks that
 * need the environment in SPEC §1 order: config (exit 2) before tokens (exit 4). Pure: no I/O, no process.env.
 * Error messages name variables, never their values.
 */

import { availableParallelism } from 'node:os';
import { ExitCode, StartupError } from '../exit-codes.js';
import { decideLambdaWaiver, isLambda, LAMBDA_DRAIN_TIMEOUT_MS } from '../lifecycle/lambda.js';
import { isLoopbackHost } from '../net/loopback.js';
import { parseNoProxy } from '../net/no-proxy.js';
import { expandHeaderValue } from './audit-fields.js';
import type { Env } from './env.js';
import { formatPath } from './summarize.js';
import { agentUrlProblem, normalizeAgentUrl, proxyUrlProblem } from './text-values.js';
import type { AuditSettings, ProxyConfig, UpstreamProxySettings } from './types.js';

/** SPEC §8 default drain outside Lambda. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/** Everything `serve` needs after the env-dependent checks passed. Frozen. */
export interface ServeSettings {
  readonly config: ProxyConfig;
  /** `CLEF_PROXY_AGENT_URL` ?? `agent.url`, validated loopback http, no trailing slash. */
  readonly agentUrl: string;
  /** Non-enumerable, like `workloadToken`: a logged or spread settings object does not carry the tokens. */
  readonly agentToken: string;
  /** The workload token, or null when workload auth is waived (Lambda loopback, SPEC §9). */
  readonly workloadToken: string | null;
  readonly drainTimeoutMs: number;
  /** Worker processes: 1 = a single process, no cluster; "auto" = os.availableParallelism(); 1 under Lambda. */
  readonly workers: number;
  readonly upstreamProxy: UpstreamProxySettings;
  /** The audit sinks with header templates expanded; each sink's `headers` is non-enumerable (never logged). */
  readonly audit: readonly AuditSettings[];
  readonly lambda: boolean;
  /** Things the operator should know, to be logged at `warn` once the logger exists. */
  readonly warnings: readonly string[];
}

/** Flags of `serve` that bear on resolution. */
export interface ServeFlags {
  readonly lambdaLoopbackOnly: boolean;
}

const SCHEME_RE = /^[a-z][a-z0-9+.-]*:\/\//i;

function invalid(what: string, why: string): StartupError {
  return new StartupError(ExitCode.InvalidConfig, what, why);
}

/** An env proxy URL: scheme-less values mean http:// (curl and Go agree), then the config rule applies. */
function envProxyUrl(value: string | undefined, names: string): string | undefined {
  if (value === undefined) return undefined;
  const url = SCHEME_RE.test(value) ? value : `http://${value}`;
  const problem = proxyUrlProblem(url);
  if (problem !== undefined) throw invalid(`invalid ${names}`, problem);
  return url;
}

function resolveUpstreamProxy(config: ProxyConfig, env: Env, warnings: string[]): UpstreamProxySettings {
  if (config.upstreamProxy) {
    if (env.httpsProxy !== undefined || env.httpProxy !== undefined || env.noProxy !== undefined) {
      warnings.push('HTTPS_PROXY/HTTP_PROXY/NO_PROXY ignored: the config sets upstream_proxy');
    }
    const { url, noProxy } = config.upstreamProxy;
    return Object.freeze({ https: url, http: url, noProxy });
  }
  const noProxy = env.noProxy ?? '';
  // Unlike the config file, a bad NO_PROXY entry only warns: the variable is often shared with other tools.
  for (const bad of parseNoProxy(noProxy).invalid)
    warnings.push(`NO_PROXY entry "${bad}" ignored: not valid`);
  return Object.freeze({
    https: envProxyUrl(env.httpsProxy, 'HTTPS_PROXY/https_proxy'),
    http: envProxyUrl(env.httpProxy, 'HTTP_PROXY/http_proxy'),
    noProxy,
  });
}

/**
 * Expand the `$NAME` references in the shipping sinks' header values (docs/audit.md). Throws `StartupError`
 * exit 2 naming the header and the variable — never a value — when a variable is unset or empty. The expanded
 * headers are non-enumerable, so a logged or spread settings object does not carry them.
 */
export function resolveAuditSinks(audit: readonly AuditSettings[], env: Env): readonly AuditSettings[] {
  return Object.freeze(
    audit.map((sink, i) => {
      if (sink.sink !== 'webhook' && sink.sink !== 'otlp') return sink;
      const at = (name: string) =>
        formatPath(audit.length === 1 ? ['audit', 'headers', name] : ['audit', i, 'headers', name]);
      const headers: Record<string, string> = {};
      for (const [name, template] of Object.entries(sink.headers)) {
        const r = expandHeaderValue(template, env.variable);
        if (r.ok) headers[name] = r.value;
        else
          throw invalid(
            'invalid config',
            'missing' in r
              ? `${at(name)}: environment variable ${r.missing} is not set`
              : `${at(name)}: ${r.invalid}`,
          );
      }
      const resolved = { ...sink };
      Object.defineProperty(resolved, 'headers', { value: Object.freeze(headers), enumerable: false });
      return Object.freeze(resolved);
    }),
  );
}

/**
 * Resolve `serve`'s settings (SPEC §1, §2, §7, §9). Throws `StartupError`:
 * exit 2 for no or a non-loopback agent URL, a non-loopback `listen` under Lambda, or a bad env proxy URL;
 * then exit 4 for a missing/empty `CLEF_PROXY_AGENT_TOKEN`, or `CLEF_PROXY_TOKEN` unless the Lambda waiver applies.
 */
export function resolveServe(config: ProxyConfig, env: Env, flags: ServeFlags): ServeSettings {
  const warnings: string[] = [];
  const lambda = isLambda(env);

  // (a) Config-level checks that need the environment: exit 2.
  const rawAgentUrl = env.agentUrl ?? config.agent.url;
  if (rawAgentUrl === '') {
    throw invalid('invalid config', 'no agent URL: set agent.url or CLEF_PROXY_AGENT_URL');
  }
  if (env.agentUrl !== undefined) {
    const problem = agentUrlProblem(env.agentUrl);
    if (problem !== undefined) throw invalid('invalid CLEF_PROXY_AGENT_URL', problem);
  }
  if (lambda && !isLoopbackHost(config.listen.host)) {
    throw invalid(
      'invalid config',
      `listen: must be a loopback address under AWS Lambda, got "${config.listen.host}"`,
    );
  }
  const upstreamProxy = resolveUpstreamProxy(config, env, warnings);
  const audit = resolveAuditSinks(config.audit, env);

  // (b) Tokens: exit 4. An empty value counts as missing (SPEC §1).
  const agentToken = env.agentToken ?? '';
  if (agentToken === '') {
    throw new StartupError(
      ExitCode.AuthMisconfig,
      'authentication misconfigured',
      'CLEF_PROXY_AGENT_TOKEN is not set',
    );
  }
  const waiver = decideLambdaWaiver(env, flags.lambdaLoopbackOnly);
  warnings.push(...waiver.warnings);
  const token = env.workloadToken ?? '';
  let workloadToken: string | null = token;
  if (waiver.waived) {
    workloadToken = null;
    if (token !== '')
      warnings.push('CLEF_PROXY_TOKEN ignored: workload auth is waived (AWS Lambda loopback)');
  } else if (token === '') {
    const hint = waiver.warnings.length > 0 ? ' (the Lambda waiver applies only under AWS Lambda)' : '';
    throw new StartupError(
      ExitCode.AuthMisconfig,
      'authentication misconfigured',
      `CLEF_PROXY_TOKEN is not set${hint}`,
    );
  }

  const settings = {
    config,
    agentUrl: normalizeAgentUrl(rawAgentUrl),
    drainTimeoutMs: config.drainTimeoutMs ?? (lambda ? LAMBDA_DRAIN_TIMEOUT_MS : DEFAULT_DRAIN_TIMEOUT_MS),
    workers: lambda ? 1 : config.workers === 'auto' ? availableParallelism() : config.workers,
    upstreamProxy,
    audit,
    lambda,
    warnings: Object.freeze(warnings),
  };
  Object.defineProperties(settings, {
    agentToken: { value: agentToken, enumerable: false },
    workloadToken: { value: workloadToken, enumerable: false },
  });
  return Object.freeze(settings) as ServeSettings;
}
