/**
 * The streams a CLI command writes to. `main.ts` passes the process's own; tests pass capturing streams, so
 * commands never touch `process.stdout` directly and can run in-process.
 */

/** Standard output (command output only, SPEC §1) and standard error (diagnostics). */
export interface CliIo {
  /** `isTTY` is read to refuse binary output to a terminal (`ca export --format der`). */
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
}
