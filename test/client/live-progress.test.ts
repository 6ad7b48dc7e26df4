// LiveProgress alone (client/live-progress.ts), its query a function the test answers when it chooses: once a
// query goes unanswered no request waits on one, one background probe at a time looks for the workers, and no
// answer is older than the newest seen. The same against a real worker, SIGKILLed: status-progress.test.ts.

import type { JobProgress } from '../../common/progress';
import { LiveProgress } from '../../client/live-progress';

const UNANSWERED = new Error('no answer within the deadline');

const progressAt = (revision: number, completedSteps: number): JobProgress => ({
  jobId: 'job-1',
  jobType: 'data_profiling',
  status: 'running',
  progressPercentage: completedSteps,
  completedSteps,
  totalSteps: 100,
  failedSteps: 0,
  inFlight: 1,
  currentStep: null,
  message: null,
  startedAt: null,
  updatedAt: new Date(0).toISOString(),
  etaSeconds: null,
  priority: 3,
  revision,
});

/** Queries the test settles one by one, in the order they were sent. */
function queries() {
  const pending: { resolve: (p: JobProgress) => void; reject: (e: unknown) => void }[] = [];
  const live = new LiveProgress({
    query: () => new Promise<JobProgress>((resolve, reject) => pending.push({ resolve, reject })),
    isUnanswered: (error) => error === UNANSWERED,
    liveCacheMs: 60_000,
    queryTimeoutMs: 60_000,
  });
  return { live, pending };
}

it('answers at once from what it has once a query went unanswered, probes one query at a time, and is live again once one is answered', async () => {
  const { live, pending } = queries();
  const stored = progressAt(3, 3);

  const first = live.answer('job-1', stored, true);
  expect(pending).toHaveLength(1);
  pending.shift()!.resolve(progressAt(5, 4));
  expect(await first).toMatchObject({ source: 'live', progress: { revision: 5 } });

  // A control decision asks again; the workers are gone, so the query goes unanswered.
  live.refresh('job-1');
  const unanswered = live.answer('job-1', stored, true);
  pending.shift()!.reject(UNANSWERED);
  expect(await unanswered).toMatchObject({ source: 'last-live', progress: { revision: 5 } });
  expect(live.workersSilent()).toBe(true);

  // Every request is answered while the one probe it started is still unanswered, and starts no other query.
  for (let i = 0; i < 5; i++)
    expect(await live.answer('job-1', stored, true)).toMatchObject({ source: 'last-live', progress: { revision: 5 } });
  expect(pending).toHaveLength(1);

  pending.shift()!.resolve(progressAt(9, 6));
  await new Promise((resolve) => setImmediate(resolve));
  expect(live.workersSilent()).toBe(false);
  expect(await live.answer('job-1', stored, true)).toMatchObject({ source: 'live', progress: { revision: 9 } });
  expect(pending).toHaveLength(0);
});

it('serves the stored snapshot when it is newer than the last live answer, and never an older one', async () => {
  const { live, pending } = queries();
  const first = live.answer('job-1', progressAt(1, 0), true);
  pending.shift()!.resolve(progressAt(5, 4));
  await first;
  live.refresh('job-1');
  const unanswered = live.answer('job-1', progressAt(4, 3), true);
  pending.shift()!.reject(UNANSWERED);
  expect(await unanswered).toMatchObject({ source: 'last-live', progress: { completedSteps: 4 } });
  // The job went on and its worker stored a newer snapshot before it died.
  expect(await live.answer('job-1', progressAt(8, 6), true)).toMatchObject({
    source: 'snapshot',
    progress: { revision: 8 },
  });
  // Temporal unreachable (no query sent): the same rule.
  expect(await live.answer('job-1', progressAt(4, 3), false)).toMatchObject({
    source: 'last-live',
    progress: { revision: 5 },
  });
});
