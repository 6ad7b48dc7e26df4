// What a test file opened that keeps a process alive (workers, connections, pools, servers), tracked until it is
// closed. A test that times out is abandoned mid-await, so its own `finally`/`afterAll` may never close what it
// opened; test/support/environment.js closes whatever is still listed once the file is done, so Jest can exit by
// itself (no `forceExit`) and a hung test fails the run instead of keeping CI waiting.

/** On the test file's global, where the environment (outside the file's module registry) finds it. */
const KEY = Symbol.for('synapse.test.leftovers');

interface Leftover {
  what: string;
  close: () => Promise<void>;
}

function registry(): Set<Leftover> {
  const holder = globalThis as unknown as Record<symbol, Set<Leftover> | undefined>;
  return (holder[KEY] ??= new Set());
}

/** Lists `close` until the returned function is called (by the owner's own close); `what` names it in the warning. */
export function trackUntilClosed(what: string, close: () => Promise<void>): () => void {
  const entry: Leftover = { what, close };
  registry().add(entry);
  return () => void registry().delete(entry);
}
