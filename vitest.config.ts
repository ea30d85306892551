import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure, fast, parallel) and `integration` (real Kafka, Redis and
// ClickHouse; one shared broker and Redis from globalSetup, files one after another
// because the machine has two cores and the broker needs one of them).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['libs/**/*.test.ts', 'apps/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['libs/**/*.int.test.ts', 'apps/**/*.int.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['libs/testing/src/global-setup.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
