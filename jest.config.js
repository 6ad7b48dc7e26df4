// Jest runs TypeScript through SWC (no type checking here: `npm run typecheck` does that).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 180_000,
  // A test that times out can leave a worker or connection of its own behind, and the native bridge then
  // keeps Jest alive after the summary: CI would wait out its 90 minutes instead of reporting the failure.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/support/json-summary-reporter.js'],
};
