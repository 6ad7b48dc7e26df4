// A Jest reporter that writes the run's counts to .tmp/jest-results.json, so CI can print its own
// "N passed, N failed, N skipped" line from Jest's result while running exactly `npm test` (skipped: Jest's
// pending tests — skip, only elsewhere — plus todo tests). Written when the run completes, before Jest exits, so
// .ci/run also knows when Jest finished its tests but something kept the process alive.
const fs = require('node:fs');
const path = require('node:path');

class JsonSummaryReporter {
  constructor(globalConfig) {
    this.file = path.join(globalConfig.rootDir, '.tmp', 'jest-results.json');
  }

  onRunComplete(_contexts, results) {
    const failedSuites = results.testResults
      .filter((r) => r.testExecError || r.failureMessage)
      .map((r) => path.relative(process.cwd(), r.testFilePath));
    const summary = {
      numPassedTests: results.numPassedTests,
      numFailedTests: results.numFailedTests,
      numPendingTests: results.numPendingTests,
      numTodoTests: results.numTodoTests,
      numTotalTests: results.numTotalTests,
      numFailedTestSuites: results.numFailedTestSuites,
      numRuntimeErrorTestSuites: results.numRuntimeErrorTestSuites,
      failedSuites,
      success: results.success,
    };
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.writeFileSync(this.file, JSON.stringify(summary, null, 2));
  }
}

module.exports = JsonSummaryReporter;
