/**
 * `clef-proxy explain <url>` (issue 12): load the config and environment exactly as `serve` does, ask the agent for
 * services and identities (never for a secret), and print what the proxy would do with the request — without
 * sending anything anywhere else. Exit 0 when the request would be forwarded, 1 when it would be refused; the
 * locked codes keep their meaning for failures (2 invocation/config, 3 agent unreachable, 4 agent token). See
 * docs/explain.md.
 */
import { createAgentSource } from '../agent/agent-source.js';
import type { Env } from '../config/env.js';
import { loadConfigFile, parseConfig } from '../config/load.js';
import { resolveServe } from '../config/resolve.js';
import type { ProxyConfig } from '../config/types.js';
import { ExitCode, type ExitCodeValue, StartupError } from '../exit-codes.js';
import { silentLogger } from '../log/logger.js';
import { type HostPort, parseHostPort } from '../net/host-port.js';
import { buildHostSet } from '../net/host-set.js';
import { parseNoProxy } from '../net/no-proxy.js';
import { explainRequest } from '../pipeline/explain.js';
import { parseProxyUrl } from '../upstream/proxy-url.js';
import { renderExplanation } from './explain-render.js';
import type { CliIo } from './io.js';

/** Exit code when the request would be refused (docs/explain.md: the grep/diff/test convention, no reserved code). */
export const EXIT_REFUSED = ExitCode.Generic;

export interface ExplainCliArgs {
  readonly url: string;
  readonly method: string;
  readonly identity: string | undefined;
  /** Raw `Name: value` strings from `--header`. */
  readonly headers: readonly string[];
  readonly configPath: string | undefined;
  readonly json: boolean;
}

// RFC 9110 §5.6.2 token: a method or header name.
const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const URL_RE = /^(https?):\/\/([^/?#]*)([^#]*)/i;

function usage(why: string): StartupError {
  return new StartupError(ExitCode.InvalidConfig, 'usage', why);
}

/** Split an `http(s)://` URL into scheme, target and origin-form request target, as a client would send it. */
export function parseExplainUrl(url: string): {
  scheme: 'https' | 'http';
  target: HostPort;
  rawTarget: string;
} {
  const m = URL_RE.exec(url);
  if (!m) throw usage('the URL must start with https:// or http://');
  const scheme = m[1]!.toLowerCase() as 'https' | 'http';
  // Userinfo never reaches a proxy (SPEC §6 "no userinfo"); refusing it also keeps a password off the output.
  if (m[2]!.includes('@')) throw usage('the URL must not hold user:password@');
  const host = parseHostPort(m[2]!, scheme === 'https' ? 443 : 80);
  if (!host.ok) throw usage(`invalid host in the URL: ${host.reason}`);
  const rest = m[3]!;
  const rawTarget = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest;
  return { scheme, target: host.value, rawTarget };
}

/** `Name: value` strings → a flat raw header list. */
export function parseHeaderArgs(headers: readonly string[]): string[] {
  const raw: string[] = [];
  for (const h of headers) {
    const colon = h.indexOf(':');
    const name = colon < 0 ? '' : h.slice(0, colon).trim();
    if (!TOKEN_RE.test(name))
      throw usage(`--header must be "Name: value", got a header without a valid name`);
    raw.push(name, h.slice(colon + 1).trim());
  }
  return raw;
}

async function loadConfig(path: string | undefined): Promise<ProxyConfig> {
  if (path !== undefined) return loadConfigFile(path);
  // No file: every default, the agent from CLEF_PROXY_AGENT_URL (resolveServe requires one or the other).
  const parsed = parseConfig({ listen: '127.0.0.1:0' });
  if (!parsed.ok) throw new StartupError(ExitCode.Generic, 'internal', 'default config rejected');
  return parsed.config;
}

/** Run explain; resolves to the exit code. Throws {@link StartupError} for invocation, config and agent failures. */
export async function runExplain(args: ExplainCliArgs, io: CliIo, env: Env): Promise<ExitCodeValue> {
  if (!TOKEN_RE.test(args.method)) throw usage('--method must be an HTTP method token');
  const request = parseExplainUrl(args.url);
  const headers = parseHeaderArgs(args.headers);
  const config = await loadConfig(args.configPath);
  // The same resolution as serve. explain authenticates no one, so it does not need CLEF_PROXY_TOKEN: a stand-in
  // satisfies the check when it is unset (the agent token is still required, exit 4).
  const settings = resolveServe(
    config,
    { ...env, workloadToken: env.workloadToken ?? 'explain-needs-no-workload-token' },
    { lambdaLoopbackOnly: false },
  );
  for (const warning of settings.warnings) io.stderr.write(`clef-proxy: warning: ${warning}\n`);
  const proxyUrl = (url: string | undefined) => (url === undefined ? undefined : parseProxyUrl(url));
  const upstream = {
    https: proxyUrl(settings.upstreamProxy.https),
    http: proxyUrl(settings.upstreamProxy.http),
    noProxy: parseNoProxy(settings.upstreamProxy.noProxy),
  };

  const source = await createAgentSource({
    url: settings.agentUrl,
    token: settings.agentToken,
    readyTimeoutMs: config.agent.readyTimeoutMs,
    refreshMs: config.agent.servicesRefreshMs,
    secretTtlMs: config.agent.secretTtlMs,
    logger: silentLogger(),
  });
  let explanation: ReturnType<typeof explainRequest>;
  try {
    explanation = explainRequest({
      ...request,
      method: args.method,
      identity: args.identity,
      headers,
      index: source.services(),
      identities: source.identities?.(),
      authWaived: settings.workloadToken === null,
      passthrough: buildHostSet(config.passthroughHosts),
      upstream,
    });
  } finally {
    await source.close();
  }
  io.stdout.write(args.json ? `${JSON.stringify(explanation, null, 2)}\n` : renderExplanation(explanation));
  return explanation.result.forwarded ? ExitCode.Ok : EXIT_REFUSED;
}
