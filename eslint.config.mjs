// Type-aware lint, zero warnings (npm run lint passes --max-warnings 0).
// Module boundaries: libs/domain is pure (no I/O packages), apps depend on libs only, nothing
// on the production path imports test code.
import tseslint from 'typescript-eslint';
import nx from '@nx/eslint-plugin';

const ioPackages = [
  'kafkajs', '@clickhouse/client', '@clickhouse/client-common', 'chdb', 'chdb/*', 'ioredis', 'bullmq',
  'pino', 'pino-pretty', 'avsc', 'node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process',
  'fs', 'net', 'http', 'child_process',
];

export default tseslint.config(
  { ignores: ['node_modules/', '.cache/', '.data/', 'dist/', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain'], bannedExternalImports: ioPackages },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:domain', 'type:lib'] },
            // Running locally (Kafka from jars, redis-server, embedded ClickHouse over HTTP, sample
            // traffic): used by `meterline start` and the tests, never by an app's wiring.
            { sourceTag: 'type:local', onlyDependOnLibsWithTags: ['type:domain', 'type:lib', 'type:local'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:domain', 'type:lib', 'type:local', 'type:testing'] },
            // An app is a composition root over libs: no app imports another app, test code or
            // local infrastructure.
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:domain', 'type:lib'] },
            // The CLI composes the apps (`meterline start`, `meterline <app>`) and may start local infrastructure.
            { sourceTag: 'type:cli', onlyDependOnLibsWithTags: ['type:domain', 'type:lib', 'type:local', 'type:app'] },
          ],
        },
      ],
    },
  },
  {
    // Tests beside an app's code may use the test harness and local infrastructure; the
    // production files of the same app may not (the block above).
    files: ['apps/**/*.test.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:domain', 'type:lib', 'type:local', 'type:testing'] },
            { sourceTag: 'type:cli', onlyDependOnLibsWithTags: ['type:domain', 'type:lib', 'type:local', 'type:testing', 'type:app'] },
          ],
        },
      ],
    },
  },
  {
    // Tests may use non-null assertions on fixtures they just built.
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
