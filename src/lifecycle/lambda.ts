/**
 * AWS Lambda rules (SPEC §9): detection, the shorter default drain and the loopback waiver of workload auth.
 * Pure functions over {@link Env}; `config/resolve.ts` applies them in the §1 startup order.
 */
import type { Env } from '../config/env.js';

/**
 * Default `drain_timeout_ms` under Lambda. Lambda freezes the sandbox soon after SIGTERM, so a long drain would
 * be cut off anyway (SPEC §9).
 */
export const LAMBDA_DRAIN_TIMEOUT_MS = 1500;

/** True when running under AWS Lambda: `AWS_LAMBDA_FUNCTION_NAME` is set and non-empty (SPEC §2). */
export function isLambda(env: Pick<Env, 'lambdaFunctionName'>): boolean {
  return env.lambdaFunctionName !== undefined && env.lambdaFunctionName !== '';
}

/** Whether workload auth is waived, and what to tell the operator about a waiver asked for but refused. */
export interface LambdaWaiver {
  readonly waived: boolean;
  readonly warnings: readonly string[];
}

/**
 * Decide the loopback waiver (SPEC §9): under Lambda, `--lambda-loopback-only` or
 * `CLEF_PROXY_LAMBDA_LOOPBACK=1|true` waive workload auth. Outside Lambda both are ignored, each with a warning,
 * and auth stays required: a flag copied into a non-Lambda deployment must not open the proxy.
 */
export function decideLambdaWaiver(
  env: Pick<Env, 'lambdaFunctionName' | 'lambdaLoopback'>,
  flagLoopbackOnly: boolean,
): LambdaWaiver {
  const asked = flagLoopbackOnly || env.lambdaLoopback;
  if (isLambda(env)) return Object.freeze({ waived: asked, warnings: Object.freeze([]) });
  const warnings: string[] = [];
  const tail = 'not running under AWS Lambda; workload auth stays required';
  if (flagLoopbackOnly) warnings.push(`--lambda-loopback-only ignored: ${tail}`);
  if (env.lambdaLoopback) warnings.push(`CLEF_PROXY_LAMBDA_LOOPBACK ignored: ${tail}`);
  return Object.freeze({ waived: false, warnings: Object.freeze(warnings) });
}
