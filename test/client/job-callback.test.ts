// The completion callback against a real API, worker, PostgreSQL and a receiver in the test: the job's outcome
// arrives signed (HMAC-SHA256 over `<timestamp>.<body>`), after a 500 and a redirect (never followed) it is retried,
// and its delivery is recorded while the job's final state stays as it was; a callbackUrl outside the allow-list is
// a 400 with nothing started, through the API and through a direct Temporal start alike.

import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { WorkflowFailedError } from '@temporalio/client';
import { listen } from '../../client/http/server';
import { DEMO_DATA_SOURCE_ID, demoCatalogue } from '../../db/demo-data';
import { createHarness, type Harness, type RunningApi, type RunningWorker } from '../support/harness';
import { recordHistoryIfAsked } from '../support/histories';

const SECRET = 'callback-secret-for-tests-0123';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let harness: Harness;
let api: RunningApi;
let worker: RunningWorker;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];
/** What the receiver answers to each POST to /hooks/, in turn; 200 once these run out. */
const answers: { status: number; location?: string }[] = [];

beforeAll(async () => {
  receiver = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString() });
      const answer = request.url?.startsWith('/hooks/') ? (answers.shift() ?? { status: 200 }) : { status: 200 };
      response.writeHead(answer.status, answer.location ? { location: answer.location } : {}).end();
    });
  });
  receiverUrl = await listen(receiver, 0);
  harness = await createHarness({
    config: {
      CALLBACK_SECRET: SECRET,
      // Only the receiver's /hooks/ path: its /elsewhere (the redirect's target) is outside.
      CALLBACK_ALLOWED_HOSTS: [`${receiverUrl}/hooks/`],
    },
  });
  api = await harness.startApi();
  worker = await harness.startWorker();
});
afterAll(async () => {
  await worker?.stop();
  await harness?.close();
  await new Promise((resolve) => receiver?.close(resolve));
});

async function attributes(count: number): Promise<string[]> {
  return (await demoCatalogue(harness.db)).slice(0, count).map((a) => a.name);
}

/** Whether `signature` is `sha256=` HMAC-SHA256 under SECRET of `<timestamp>.<body>`, compared in constant time. */
function signedBy(request: Received): boolean {
  const timestamp = request.headers['x-synapse-timestamp'];
  const signature = request.headers['x-synapse-signature'];
  if (typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${request.body}`).digest('hex')}`;
  return signature.length === expected.length && timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
}

it('POSTs the outcome signed, retried after a 500 and a redirect it does not follow, and records the delivery with the job still completed', async () => {
  answers.push({ status: 500 }, { status: 302, location: `${receiverUrl}/elsewhere` });
  const started = await api.request('hana', 'POST', '/api/v1/jobs', {
    jobType: 'data_profiling_llm_generation',
    dataSourceId: DEMO_DATA_SOURCE_ID,
    attributeIds: await attributes(2),
    callbackUrl: `${receiverUrl}/hooks/job-done?source=synapse`,
  });
  expect(started.status).toBe(201);
  const jobId = started.body.job_id as string;
  await harness.temporal.workflow.getHandle(jobId).result();
  // Under RECORD_HISTORIES=1, kept for test/replay.test.ts: the callback activity after the final record replays.
  recordHistoryIfAsked(harness.config.TEMPORAL_ADDRESS, jobId, 'completion-callback-retried');

  const posts = received.filter((r) => r.path.startsWith('/hooks/'));
  expect(posts).toHaveLength(3);
  expect(received.filter((r) => r.path === '/elsewhere')).toEqual([]);
  for (const post of posts) {
    expect(post.path).toBe('/hooks/job-done?source=synapse');
    expect(post.headers['content-type']).toBe('application/json');
    expect(signedBy(post)).toBe(true);
    expect(Math.abs(Number(post.headers['x-synapse-timestamp']) - Date.now() / 1_000)).toBeLessThan(600);
  }
  // A body changed on the way would not pass: the signature covers it.
  expect(signedBy({ ...posts[0]!, body: posts[0]!.body.replace('completed', 'failed') })).toBe(false);

  const row = await harness.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirstOrThrow();
  expect(JSON.parse(posts[2]!.body)).toEqual({
    job_id: jobId,
    job_type: 'data_profiling_llm_generation',
    status: 'completed',
    error: null,
    completed_at: row.completed_at!.toISOString(),
    result_summary: expect.objectContaining({ attributesTotal: 2, attributesProfiled: 2 }),
  });
  expect(row.status).toBe('completed');
  const delivery = await harness.db
    .selectFrom('job_callbacks')
    .selectAll()
    .where('job_id', '=', jobId)
    .executeTakeFirstOrThrow();
  expect(delivery).toMatchObject({ attempts: 3, last_status: 200, last_error: null });
  expect(delivery.delivered_at).toBeInstanceOf(Date);
  // The status answer shows the same.
  const status = await api.request('hana', 'GET', `/api/v1/jobs/${jobId}/status`);
  expect(status.body).toMatchObject({
    status: 'completed',
    callback: {
      url: `${receiverUrl}/hooks/job-done?source=synapse`,
      attempts: 3,
      last_status: 200,
      last_error: null,
      delivered_at: delivery.delivered_at!.toISOString(),
    },
  });
});

it('refuses a callbackUrl outside the allow-list with 400 naming the field, and starts nothing', async () => {
  const receivedBefore = received.length;
  const outside = [
    `${receiverUrl}/elsewhere`,
    'http://169.254.169.254/latest/meta-data',
    `${receiverUrl}/hooks-evil/x`,
    `ftp://127.0.0.1/hooks/`,
  ];
  for (const callbackUrl of outside) {
    const answer = await api.request('ivan', 'POST', '/api/v1/jobs', {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: await attributes(1),
      callbackUrl,
    });
    expect(answer.status).toBe(400);
    expect(JSON.stringify(answer.body)).toContain('callbackUrl');
  }
  // A direct Temporal start with the same request fails its admission the same way.
  const handle = await harness.temporal.workflow.start('dataProfilingLlmGeneration', {
    taskQueue: harness.config.TEMPORAL_TASK_QUEUE,
    workflowId: `callback-refused-${Date.now()}`,
    args: [
      {
        owner: 'ivan',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: await attributes(1),
        callbackUrl: outside[1],
      },
    ],
  });
  const failure = await handle.result().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(failure).toBeInstanceOf(WorkflowFailedError);
  expect(String((failure as WorkflowFailedError).cause?.message)).toContain('callbackUrl');
  const jobs = await harness.db.selectFrom('jobs').select('id').where('owner', '=', 'ivan').execute();
  expect(jobs).toEqual([]);
  expect(received.slice(receivedBefore)).toEqual([]);
});
