// Polling helpers for tests that watch a running system: wait for a condition, never a fixed guess; and the error a
// call fails with.

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The error a call rejects with; fails the test if the call succeeds. */
export async function failureOf(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/**
 * Reads until `done` holds; after `timeoutMs` fails saying what it waited for (`what`) and the last value read.
 * Give every wait its own bound, well under the test's, so a failure names the state that never came. (A call
 * that names neither still fails in 60 s, with the condition's own source as what it waited for.)
 */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 60_000,
  what = `\`${done.toString()}\``,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last value ${JSON.stringify(value)?.slice(0, 2_000)}`,
      );
    await sleep(100);
  }
}
