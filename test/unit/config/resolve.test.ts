import { describe, expect, it } from 'vitest';
import { readEnv } from '../../../src/config/env.js';
import { parseConfig } from '../../../src/config/load.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, resolveServe } from '../../../src/config/resolve.js';
import type { ProxyConfig } from '../../../src/config/types.js';
import { ExitCode, StartupError } from '../../../src/exit-codes.js';
import { decideLambdaWaiver, isLambda, LAMBDA_DRAIN_TIMEOUT_MS } from '../../../src/lifecycle/lambda.js';

const AGENT_TOKEN = 'agent-tok-5ecret';
const WORKLOAD_TOKEN = 'work-tok-5ecret';
const BASE_ENV = { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN };
const NO_FLAGS = { lambdaLoopbackOnly: false };

function config(raw: Record<string, unknown> = {}): ProxyConfig {
  const r = parseConfig({ listen: '127.0.0.1:0', agent: { url: 'http://127.0.0.1:7777' }, ...raw });
  if (!r.ok) throw new Error(r.issues.join('\n'));
  return r.config;
}

function env(vars: Record<string, string | undefined>) {
  return readEnv(vars, 'linux');
}

function failure(fn: () => unknown): StartupError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StartupError);
    const err = e as StartupError;
    // Messages name variables, never their values.
    expect(err.message).not.toContain(AGENT_TOKEN);
    expect(err.message).not.toContain(WORKLOAD_TOKEN);
    return err;
  }
  throw new Error('expected a StartupError');
}

describe('resolveServe: a normal start', () => {
  it('returns frozen settings with the tokens, defaults and no warnings', () => {
    const s = resolveServe(config(), env(BASE_ENV), NO_FLAGS);
    expect(s.agentUrl).toBe('http://127.0.0.1:7777');
    expect(s.agentToken).toBe(AGENT_TOKEN);
    expect(s.workloadToken).toBe(WORKLOAD_TOKEN);
    expect(s.drainTimeoutMs).toBe(DEFAULT_DRAIN_TIMEOUT_MS);
    expect(s.drainTimeoutMs).toBe(10_000);
    expect(s.lambda).toBe(false);
    expect(s.warnings).toEqual([]);
    expect(s.upstreamProxy).toEqual({ https: undefined, http: undefined, noProxy: '' });
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.upstreamProxy)).toBe(true);
  });

  it('keeps the tokens out of JSON, spreads and Object.keys', () => {
    const s = resolveServe(config(), env(BASE_ENV), NO_FLAGS);
    const json = JSON.stringify(s);
    expect(json).not.toContain(AGENT_TOKEN);
    expect(json).not.toContain(WORKLOAD_TOKEN);
    expect(Object.keys(s)).not.toContain('agentToken');
    expect({ ...s }).not.toHaveProperty('workloadToken');
  });

  it('CLEF_PROXY_AGENT_URL overrides agent.url, and may stand alone', () => {
    const over = resolveServe(
      config(),
      env({ ...BASE_ENV, CLEF_PROXY_AGENT_URL: 'http://[::1]:9999/' }),
      NO_FLAGS,
    );
    expect(over.agentUrl).toBe('http://[::1]:9999');
    const alone = resolveServe(
      config({ agent: {} }),
      env({ ...BASE_ENV, CLEF_PROXY_AGENT_URL: 'http://localhost:1' }),
      NO_FLAGS,
    );
    expect(alone.agentUrl).toBe('http://localhost:1');
  });

  it('the config drain_timeout_ms wins over both defaults', () => {
    expect(resolveServe(config({ drain_timeout_ms: 42 }), env(BASE_ENV), NO_FLAGS).drainTimeoutMs).toBe(42);
    const lambdaEnv = env({ ...BASE_ENV, AWS_LAMBDA_FUNCTION_NAME: 'fn' });
    expect(resolveServe(config({ drain_timeout_ms: 42 }), lambdaEnv, NO_FLAGS).drainTimeoutMs).toBe(42);
  });
});

describe('resolveServe: config checks (exit 2) come before tokens (exit 4)', () => {
  it.each<[string, Record<string, unknown>, Record<string, string>, string]>([
    [
      'no agent URL anywhere',
      { agent: {} },
      {},
      'invalid config: no agent URL: set agent.url or CLEF_PROXY_AGENT_URL',
    ],
    [
      'a non-loopback CLEF_PROXY_AGENT_URL',
      {},
      { CLEF_PROXY_AGENT_URL: 'http://10.0.0.1:7777' },
      'invalid CLEF_PROXY_AGENT_URL: must be a loopback address (127.0.0.0/8, ::1 or localhost)',
    ],
    [
      'an https CLEF_PROXY_AGENT_URL',
      {},
      { CLEF_PROXY_AGENT_URL: 'https://127.0.0.1:7777' },
      'invalid CLEF_PROXY_AGENT_URL: expected an http:// URL',
    ],
    [
      'a non-loopback listen under Lambda',
      { listen: '0.0.0.0:8118' },
      { AWS_LAMBDA_FUNCTION_NAME: 'fn' },
      'invalid config: listen: must be a loopback address under AWS Lambda, got "0.0.0.0"',
    ],
    [
      'a SOCKS HTTPS_PROXY',
      {},
      { HTTPS_PROXY: 'socks5://u:pw@proxy:1080' },
      'invalid HTTPS_PROXY/https_proxy: expected an http:// or https:// URL',
    ],
    [
      'an http_proxy with a path',
      {},
      { http_proxy: 'http://proxy:3128/x' },
      'invalid HTTP_PROXY/http_proxy: must not have a path, query or fragment',
    ],
  ])('%s → exit 2, even with no tokens at all', (_name, raw, vars, message) => {
    // No CLEF_PROXY_AGENT_TOKEN / CLEF_PROXY_TOKEN: the config failure must still win (SPEC §1 order).
    const err = failure(() => resolveServe(config(raw), env(vars), NO_FLAGS));
    expect(err.code).toBe(ExitCode.InvalidConfig);
    expect(err.message).toBe(message);
    expect(err.message).not.toContain('pw@');
  });

  it.each<[string, Record<string, string>, boolean, string]>([
    ['agent token missing', { CLEF_PROXY_TOKEN: WORKLOAD_TOKEN }, false, 'CLEF_PROXY_AGENT_TOKEN is not set'],
    [
      'agent token empty',
      { CLEF_PROXY_AGENT_TOKEN: '', CLEF_PROXY_TOKEN: WORKLOAD_TOKEN },
      false,
      'CLEF_PROXY_AGENT_TOKEN is not set',
    ],
    ['agent token checked before the workload token', {}, false, 'CLEF_PROXY_AGENT_TOKEN is not set'],
    ['workload token missing', { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN }, false, 'CLEF_PROXY_TOKEN is not set'],
    [
      'workload token empty',
      { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, CLEF_PROXY_TOKEN: '' },
      false,
      'CLEF_PROXY_TOKEN is not set',
    ],
    [
      'flag outside Lambda does not waive',
      { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN },
      true,
      'CLEF_PROXY_TOKEN is not set (the Lambda waiver applies only under AWS Lambda)',
    ],
    [
      'env waiver outside Lambda does not waive',
      { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, CLEF_PROXY_LAMBDA_LOOPBACK: '1' },
      false,
      'CLEF_PROXY_TOKEN is not set (the Lambda waiver applies only under AWS Lambda)',
    ],
    [
      'Lambda without a waiver still needs the token',
      { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, AWS_LAMBDA_FUNCTION_NAME: 'fn' },
      false,
      'CLEF_PROXY_TOKEN is not set',
    ],
    [
      'Lambda with CLEF_PROXY_LAMBDA_LOOPBACK=0 still needs the token',
      {
        CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN,
        AWS_LAMBDA_FUNCTION_NAME: 'fn',
        CLEF_PROXY_LAMBDA_LOOPBACK: '0',
      },
      false,
      'CLEF_PROXY_TOKEN is not set',
    ],
  ])('%s → exit 4', (_name, vars, flag, why) => {
    const err = failure(() => resolveServe(config(), env(vars), { lambdaLoopbackOnly: flag }));
    expect(err.code).toBe(ExitCode.AuthMisconfig);
    expect(err.message).toBe(`authentication misconfigured: ${why}`);
  });
});

describe('resolveServe: AWS Lambda (SPEC §9)', () => {
  const LAMBDA = { CLEF_PROXY_AGENT_TOKEN: AGENT_TOKEN, AWS_LAMBDA_FUNCTION_NAME: 'my-fn' };

  it.each<[string, Record<string, string>, boolean]>([
    ['waived by the flag', LAMBDA, true],
    ['waived by CLEF_PROXY_LAMBDA_LOOPBACK=1', { ...LAMBDA, CLEF_PROXY_LAMBDA_LOOPBACK: '1' }, false],
    ['waived by CLEF_PROXY_LAMBDA_LOOPBACK=TRUE', { ...LAMBDA, CLEF_PROXY_LAMBDA_LOOPBACK: 'TRUE' }, false],
  ])('%s: workloadToken null, 1500 ms drain, no warnings', (_name, vars, flag) => {
    const s = resolveServe(config(), env(vars), { lambdaLoopbackOnly: flag });
    expect(s.lambda).toBe(true);
    expect(s.workloadToken).toBeNull();
    expect(s.drainTimeoutMs).toBe(LAMBDA_DRAIN_TIMEOUT_MS);
    expect(s.drainTimeoutMs).toBe(1500);
    expect(s.warnings).toEqual([]);
  });

  it('a waiver with a token present still waives, and says the token is ignored', () => {
    const s = resolveServe(config(), env({ ...LAMBDA, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN }), {
      lambdaLoopbackOnly: true,
    });
    expect(s.workloadToken).toBeNull();
    expect(s.warnings).toEqual(['CLEF_PROXY_TOKEN ignored: workload auth is waived (AWS Lambda loopback)']);
  });

  it('under Lambda without a waiver, auth stays on with the token', () => {
    const s = resolveServe(config(), env({ ...LAMBDA, CLEF_PROXY_TOKEN: WORKLOAD_TOKEN }), NO_FLAGS);
    expect(s.lambda).toBe(true);
    expect(s.workloadToken).toBe(WORKLOAD_TOKEN);
  });

  it.each(['127.0.0.1:0', '127.8.8.8:1', '[::1]:0', 'localhost:8118'])(
    'listen %s is loopback: accepted',
    (listen) => {
      expect(resolveServe(config({ listen }), env(LAMBDA), { lambdaLoopbackOnly: true }).lambda).toBe(true);
    },
  );

  it('an empty AWS_LAMBDA_FUNCTION_NAME is not Lambda: no waiver, 10 s drain', () => {
    const vars = { ...BASE_ENV, AWS_LAMBDA_FUNCTION_NAME: '' };
    const s = resolveServe(config({ listen: '0.0.0.0:0' }), env(vars), { lambdaLoopbackOnly: true });
    expect(s.lambda).toBe(false);
    expect(s.workloadToken).toBe(WORKLOAD_TOKEN);
    expect(s.drainTimeoutMs).toBe(10_000);
  });

  it('outside Lambda, the flag and the env variable each warn and auth stays required', () => {
    const vars = { ...BASE_ENV, CLEF_PROXY_LAMBDA_LOOPBACK: 'true' };
    const s = resolveServe(config(), env(vars), { lambdaLoopbackOnly: true });
    expect(s.workloadToken).toBe(WORKLOAD_TOKEN);
    expect(s.warnings).toEqual([
      '--lambda-loopback-only ignored: not running under AWS Lambda; workload auth stays required',
      'CLEF_PROXY_LAMBDA_LOOPBACK ignored: not running under AWS Lambda; workload auth stays required',
    ]);
  });

  it.each<[Record<string, string>, boolean]>([
    [{ AWS_LAMBDA_FUNCTION_NAME: 'fn' }, true],
    [{ AWS_LAMBDA_FUNCTION_NAME: '' }, false],
    [{}, false],
  ])('isLambda(%j) → %s', (vars, expected) => {
    expect(isLambda(env(vars))).toBe(expected);
  });

  it('decideLambdaWaiver returns frozen decisions', () => {
    const d = decideLambdaWaiver(env({ AWS_LAMBDA_FUNCTION_NAME: 'fn' }), true);
    expect(d).toEqual({ waived: true, warnings: [] });
    expect(Object.isFrozen(d)).toBe(true);
  });
});

describe('resolveServe: upstream proxy chaining (SPEC §7)', () => {
  it('takes HTTPS_PROXY, HTTP_PROXY and NO_PROXY from the environment when the config sets none', () => {
    const vars = { ...BASE_ENV, HTTPS_PROXY: 'http://a:3128', http_proxy: 'http://b:3128', no_proxy: '.svc' };
    expect(resolveServe(config(), env(vars), NO_FLAGS).upstreamProxy).toEqual({
      https: 'http://a:3128',
      http: 'http://b:3128',
      noProxy: '.svc',
    });
  });

  it('upper-case variables win over lower-case ones', () => {
    const vars = { ...BASE_ENV, HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1' };
    expect(resolveServe(config(), env(vars), NO_FLAGS).upstreamProxy.https).toBe('http://upper:1');
  });

  it('a scheme-less proxy variable means http:// (as curl and Go read it)', () => {
    const vars = { ...BASE_ENV, HTTPS_PROXY: 'proxy.corp:3128' };
    expect(resolveServe(config(), env(vars), NO_FLAGS).upstreamProxy.https).toBe('http://proxy.corp:3128');
  });

  it('the config upstream_proxy serves both schemes and replaces the environment, with a warning', () => {
    const vars = { ...BASE_ENV, HTTPS_PROXY: 'http://env:1', NO_PROXY: 'env.corp' };
    const s = resolveServe(
      config({ upstream_proxy: { url: 'https://u:p@cfg:3128', no_proxy: 'cfg.corp' } }),
      env(vars),
      NO_FLAGS,
    );
    expect(s.upstreamProxy).toEqual({
      https: 'https://u:p@cfg:3128',
      http: 'https://u:p@cfg:3128',
      noProxy: 'cfg.corp',
    });
    expect(s.warnings).toEqual(['HTTPS_PROXY/HTTP_PROXY/NO_PROXY ignored: the config sets upstream_proxy']);
  });

  it('invalid NO_PROXY entries from the environment warn instead of failing', () => {
    const vars = { ...BASE_ENV, NO_PROXY: 'ok.corp,bad..corp' };
    const s = resolveServe(config(), env(vars), NO_FLAGS);
    expect(s.upstreamProxy.noProxy).toBe('ok.corp,bad..corp');
    expect(s.warnings).toEqual(['NO_PROXY entry "bad..corp" ignored: not valid']);
  });
});
