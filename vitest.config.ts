import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the CLI once per run for the subprocess tests (test/helpers/serve.ts).
    globalSetup: ['test/global-setup.ts'],
    benchmark: { include: ['bench/**/*.bench.ts'] },
    // Backstops, not expectations: on a loaded 2-core machine (scripts/stress-suite.mjs runs the suite beside a CPU
    // hog on every core) a test that spawns the CLI four times took over 20 s. A hung test still fails, later.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration tests spawn real processes and sockets; two cores are all these machines have.
    maxWorkers: 2,
  },
});
