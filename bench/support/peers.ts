// The peers bench:efficiency compares the job with, on the same machine in the same run: a plain in-process loop keeping
// C requests in flight (the physical limit of the workload) and a BullMQ flow (a parent job and N children on a worker
// of concurrency C, over Redis), each sending the same LLM requests through the same openai client to the same stand-in.
// The peer table was taken elsewhere; run here, they say how close to the limit this machine lets anything come.

import { Socket } from 'node:net';
import { FlowProducer, Queue, Worker as BullWorker, type Job } from 'bullmq';
import type OpenAI from 'openai';

/** One LLM request for item i, as the job's own calls send it (the bench builds it from the item's attribute). */
export type SendItem = (item: number) => Promise<void>;

/**
 * At most `concurrency` of `n` requests in flight, the next sent as soon as one is answered, in this event loop: no
 * queue, no store, no orchestration. Returns the wall seconds from the first request to the last answer.
 */
export async function runPlainLoop(send: SendItem, n: number, concurrency: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < n) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return (performance.now() - started) / 1_000;
}

/**
 * A BullMQ flow: a parent job whose `n` children each send one request, on a worker of concurrency `concurrency`, the
 * parent completing once every child has (BullMQ moves it to its queue then). Returns the wall seconds from adding the
 * flow to the parent's completion. Its two queues are named after `prefix` (fresh each run) and removed from Redis after it.
 */
export async function runBullmqFlow(
  send: SendItem,
  n: number,
  concurrency: number,
  redisUrl: string,
  prefix: string,
): Promise<number> {
  const connection = redisConnection(redisUrl);
  const items = `${prefix}-items`;
  const parents = `${prefix}-parent`;
  let parentDone!: () => void;
  const finished = new Promise<void>((resolve) => (parentDone = resolve));
  const itemWorker = new BullWorker(items, async (job: Job<{ item: number }>) => send(job.data.item), {
    connection,
    concurrency,
  });
  const parentWorker = new BullWorker(parents, async () => parentDone(), { connection, concurrency: 1 });
  const flows = new FlowProducer({ connection });
  try {
    await Promise.all([itemWorker.waitUntilReady(), parentWorker.waitUntilReady()]);
    const started = performance.now();
    await flows.add({
      name: 'profile',
      queueName: parents,
      children: Array.from({ length: n }, (_, item) => ({
        name: 'attribute',
        queueName: items,
        data: { item },
        opts: { removeOnComplete: true },
      })),
    });
    await finished;
    return (performance.now() - started) / 1_000;
  } finally {
    await Promise.all([itemWorker.close(), parentWorker.close(), flows.close()]);
    // The parent job and the queues' keys would otherwise stay in Redis, one set a run.
    await Promise.all(
      [items, parents].map(async (name) => {
        const queue = new Queue(name, { connection });
        await queue.obliterate({ force: true });
        await queue.close();
      }),
    );
  }
}

/** Whether Redis answers at `redisUrl` (the BullMQ peer is skipped, and says so, where none runs). */
export async function redisAnswers(redisUrl: string): Promise<boolean> {
  const { hostname, port } = new URL(redisUrl);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 6379), hostname, () => done(true));
  });
}

function redisConnection(redisUrl: string) {
  const url = new URL(redisUrl);
  // BullMQ's workers block on Redis; it asks for no retry limit on their connections.
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
}

/** The request the bare window and the peers send for one item: the same prompt shape as the job's calls. */
export function llmSender(
  openai: OpenAI,
  request: (item: number) => OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming,
): SendItem {
  return async (item) => {
    await openai.chat.completions.create(request(item));
  };
}
