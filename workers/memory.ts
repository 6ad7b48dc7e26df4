// The worker process's V8 heaps kept near their live size. Imported first by workers/main.ts, so it holds for every
// isolate of the process: the main thread (activities, the SDK's bridge) and the workflow thread the SDK starts later.

import { setFlagsFromString } from 'node:v8';

/**
 * On a large machine V8 lets each old generation grow to about four times what survived its last full collection
 * before collecting again, and keeps 32 MB of young generation per isolate. A worker's live heap is small (about 50 MB
 * on the main thread, 30 MB on the workflow thread) but its garbage is not: activities of 50 LLM calls in flight live
 * for hundreds of milliseconds, long enough to be promoted, so the main heap grew to 200 MB and the process to 440 MB
 * on bench:scale's 10 000-item job. `--optimize-for-size` makes V8 collect at a smaller margin (growing factor 1.3)
 * with a smaller young generation: the same job peaks near 250 MB. V8 reads this flag at every collection, so it
 * applies though set after start; Node warns that flags changed late may do nothing, which bench:scale's peak RSS
 * would show. `--max-old-space-size` on the command line cannot be set this way (the heap is sized at start).
 */
setFlagsFromString('--optimize-for-size');
