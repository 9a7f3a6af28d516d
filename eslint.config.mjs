// Lint rules. The important one: workflow code must stay deterministic, so src/workflows may not import Node
// built-ins, ssh2, or the activities' implementation (type-only imports of activity signatures are fine).
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'lib/**', 'dist/**', '.tools/**', '.data/**', '.lab/**', 'test-artifacts/**', 'eslint.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: { allowDefaultProject: ['scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself tracks.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
            { name: 'ssh2', message: 'Workflow code must not open connections: use an activity.' },
          ],
          patterns: [
            {
              group: ['**/activities', '**/activities/*', '!**/activities/*.types'],
              allowTypeImports: true,
              message: 'Workflow code may import activity types only (import type ...); call activities through proxyActivities.',
            },
            { group: ['ssh2/*', '**/ssh', '**/ssh/*', '**/load-inventory'], message: 'Not allowed in workflow code.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop from @temporalio/workflow.' },
        { name: 'process', message: 'No process state in workflow code.' },
        { name: 'require', message: 'No dynamic requires in workflow code.' },
      ],
    },
  },
);
