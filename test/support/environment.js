// Jest's node environment, plus one duty at the end of every test file: close what the file left open (see
// test/support/leftovers.ts). Without `forceExit`, a worker or connection left behind by a test that timed out
// would keep Jest alive after the summary; here it is closed and named, each close bounded, so the run ends.
// (.ci/run's `timeout` is the last guard, for a handle nothing here knows about.)
const { TestEnvironment } = require('jest-environment-node');

const KEY = Symbol.for('synapse.test.leftovers');
// A harness closes in a few seconds (a worker's shutdown grace is 1 s in tests); a close that takes longer is
// itself stuck, and waiting for it would only move the hang here.
const CLOSE_BOUND_MS = 30_000;

class SynapseTestEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    this.testPath = context.testPath;
  }

  // 'run_finish' comes after every test and every afterAll hook of the file, while its modules can still load
  // (the environment's own teardown() runs after the file's module registry is gone).
  async handleTestEvent(event) {
    if (event.name === 'run_finish') await this.closeLeftovers();
  }

  async closeLeftovers() {
    const leftovers = this.global[KEY];
    for (const entry of leftovers ? [...leftovers] : []) {
      leftovers.delete(entry);
      console.warn(
        `${this.testPath}: closing ${entry.what}, which the file left open (a test timed out or skipped its cleanup)`,
      );
      let timer;
      const bound = new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), CLOSE_BOUND_MS)));
      const outcome = await Promise.race([
        Promise.resolve()
          .then(entry.close)
          .then(
            () => 'closed',
            (error) => error,
          ),
        bound,
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout')
        console.warn(`${this.testPath}: ${entry.what} did not close within ${CLOSE_BOUND_MS} ms`);
      else if (outcome !== 'closed')
        console.warn(`${this.testPath}: closing ${entry.what} failed: ${outcome?.stack ?? outcome}`);
    }
  }
}

module.exports = SynapseTestEnvironment;
