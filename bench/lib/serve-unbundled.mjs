#!/usr/bin/env node
// `clef-proxy` from tsc's unbundled modules (dist/cli/program.js and what it imports), for profiling only:
// `npm run build` replaces dist/cli/main.js with one esbuild bundle, whose frames would all read
// "dist/cli/main.js:<line>"; from the unbundled modules a profile names each source file. Same behaviour as
// src/cli/main.ts (which the bundle is built from); the load scenarios themselves run the shipped bin.
import { hideBin } from 'yargs/helpers';
import { run } from '../../dist/cli/program.js';

run(hideBin(process.argv), { stdout: process.stdout, stderr: process.stderr }).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(
      `clef-proxy: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    process.exit(1);
  },
);
