/**
 * The exit codes locked with the supervisor (SPEC §1). Codes ≥ 7 are reserved.
 */
export const ExitCode = Object.freeze({
  Ok: 0,
  Generic: 1,
  InvalidConfig: 2,
  AgentUnreachable: 3,
  AuthMisconfig: 4,
  CaFailure: 5,
  BindFailure: 6,
} as const);

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure during startup or a CLI command that maps to one exit code. `cli/main.ts` prints
 * `clef-proxy: <what>: <why>` and exits with `code`; nothing else calls `process.exit`.
 * `details` are extra lines printed after the first (every config issue, one per line).
 */
export class StartupError extends Error {
  readonly code: ExitCodeValue;
  readonly what: string;
  readonly details: readonly string[];
  constructor(
    code: ExitCodeValue,
    what: string,
    why: string,
    options?: { cause?: unknown; details?: readonly string[] },
  ) {
    super(`${what}: ${why}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StartupError';
    this.code = code;
    this.what = what;
    this.details = options?.details ?? [];
  }
}
