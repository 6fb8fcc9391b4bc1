/**
 * The CLI entry (SPEC §1) and the only module that calls `process.exit` (STYLE habit 5).
 */
import { hideBin } from 'yargs/helpers';
import { ExitCode } from '../exit-codes.js';
import type { CliIo } from './io.js';
import { run } from './program.js';

const io: CliIo = { stdout: process.stdout, stderr: process.stderr };

function exitAfterStdout(code: number): void {
  // Let piped stdout drain before exiting: `ca export > file` must not be cut short.
  if (process.stdout.writableLength === 0) process.exit(code);
  process.stdout.once('drain', () => process.exit(code));
}

run(hideBin(process.argv), io).then(exitAfterStdout, (err: unknown) => {
  process.stderr.write(`clef-proxy: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(ExitCode.Generic);
});
