import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the CLI once per run for the subprocess tests (test/helpers/serve.ts).
    globalSetup: ['test/global-setup.ts'],
    benchmark: { include: ['bench/**/*.bench.ts'] },
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Integration tests spawn real processes and sockets; two cores are all these machines have.
    maxWorkers: 2,
  },
});
