// Type-aware lint, zero warnings (npm run lint passes --max-warnings 0).
// Module boundaries: libs/domain is pure (no I/O packages), apps depend on libs only.
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
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:domain', 'type:lib', 'type:testing'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:domain', 'type:lib', 'type:testing', 'type:app'] },
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
