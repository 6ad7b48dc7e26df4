// Jest runs TypeScript through SWC (no type checking here: `npm run typecheck` does that).
/** @type {import('jest').Config} */
module.exports = {
  // Node's environment, which also closes whatever a test file left open (test/support/environment.js): no
  // `forceExit` here, because that would hide a leaked worker or connection instead of closing or naming it.
  testEnvironment: '<rootDir>/test/support/environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest'],
    // ESM-only dependencies of the API (@fastify/swagger-ui -> @fastify/static -> content-disposition), as CommonJS.
    '/node_modules/content-disposition/.+\\.js$': ['@swc/jest', { module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!content-disposition/)'],
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 180_000,
  reporters: ['default', '<rootDir>/test/support/json-summary-reporter.js'],
};
