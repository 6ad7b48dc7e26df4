// ESLint for the whole tree: typescript-eslint's type-checked recommended rules, for the bugs a type checker can
// see but tsc does not report (a promise nobody awaits above all), and a stricter block for workflow code, which
// Temporal replays and must stay deterministic. Layout and quotes are Prettier's (eslint-config-prettier, last).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * Code that ends up in the workflow bundle: the workflows, the bench's no-op workflow, and `common/`, which they
 * import.
 */
const WORKFLOW_BUNDLE = ['workflows/**/*.ts', 'bench/noop-workflow.ts', 'common/**/*.ts'];

/** Node's modules by their bare names (`fs`); `node:`-prefixed ones are caught by a pattern below. */
const NODE_BUILTINS = builtinModules.filter((m) => !m.startsWith('_'));
const NO_NODE = 'Workflow code runs in a sandbox without Node: do I/O in an activity.';

export default defineConfig(
  { ignores: ['node_modules/', '.temporal/', '.tmp/', 'dist/', 'coverage/', 'bench/results/', 'test/histories/'] },

  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // The reason for all this: a promise nobody awaits loses its error and its ordering. Fire-and-forget is
      // written `void promise` with a comment saying why (the rule accepts `void`).
      '@typescript-eslint/no-floating-promises': 'error',
      // Bug catchers beyond the recommended set that the tree already satisfies, so they cost nothing to keep.
      // A new job type, status or failure type must be handled by every switch over it.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // `return promise` inside try/catch would skip the catch (and the finally would run too early).
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // Type-only imports stay `import type`, so the workflow bundle never loads an activity module for a type.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      eqeqeq: ['error', 'smart'],
      'no-self-compare': 'error',
      'no-template-curly-in-string': 'error',
      // Deprecated APIs are shown, not failed on (samples-typescript does the same): they still work.
      '@typescript-eslint/no-deprecated': 'warn',
      // `_` marks what a signature or a destructuring needs but the body does not; `...rest` siblings drop fields.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],

      // Off, each for a reason:
      // `any` is allowed where it is written on purpose (kysely's migrations take `Kysely<any>`); the no-unsafe-*
      // rules below still flag the uses of an `any` that could go wrong.
      '@typescript-eslint/no-explicit-any': 'off',
      // Async functions that implement a Promise-returning interface (budgets, test stubs) need no await; a
      // missing await where one matters is no-floating-promises' job.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read HTTP answers, rows and histories as `any` and assert on them: a wrong field fails the assertion,
    // so these rules would only add casts (they were 280 of the tree's first 380 findings).
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain CommonJS files loaded by Node or Jest as they are (bin, Jest's config, environment and reporter):
    // outside tsconfig, so without type information, and `require` is how they load.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: globals.node },
  },
  {
    // Workflow code runs in Temporal's sandbox and is replayed: no I/O, no Node, no clock or randomness of its own.
    // (setTimeout, Date and Math.random are fine: the sandbox replaces them with deterministic versions.)
    files: WORKFLOW_BUNDLE,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...NODE_BUILTINS.map((name) => ({ name, message: NO_NODE })),
            ...['@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/testing'].map(
              (name) => ({
                name,
                message: 'Workflow code imports only @temporalio/workflow and @temporalio/common.',
              }),
            ),
            ...['pg', 'kysely', 'openai', 'jose', 'prom-client', 'tsx'].map((name) => ({
              name,
              message: 'I/O belongs in an activity; workflow code only schedules it.',
            })),
          ],
          patterns: [
            { regex: '^node:', message: NO_NODE },
            {
              regex: '^\\.\\.?/(.*/)?(activities|db)(/|$)',
              allowTypeImports: true,
              message:
                'Import activities (and table types) as types only (`import type`): their code must not run in a workflow.',
            },
            {
              regex: '^\\.\\.?/(.*/)?(client|config|workers|llm-standin)(/|$)',
              message: 'Workflow code imports only workflows/, common/ and @temporalio/workflow.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'require', '__dirname', '__filename', 'Buffer', 'global', 'setImmediate', 'clearImmediate'].map(
          (name) => ({ name, message: `\`${name}\` is Node's: the workflow sandbox has none.` }),
        ),
        { name: 'fetch', message: 'I/O belongs in an activity.' },
        {
          name: 'performance',
          message: 'A workflow reads time with Date (the replayed clock), not performance.now().',
        },
        { name: 'crypto', message: 'For an id, use uuid4() from @temporalio/workflow (the same on replay).' },
        ...['WeakRef', 'FinalizationRegistry'].map((name) => ({
          name,
          message: 'Garbage collection timing differs on replay.',
        })),
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression', message: 'A dynamic import() is I/O at run time: import statically.' },
      ],
    },
  },

  prettier,
);
