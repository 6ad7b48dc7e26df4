// The worker process: `npm run worker`. Runs workflows and activities for the jobs task queue until
// SIGINT/SIGTERM, then shuts down gracefully (the SDK's runtime handles those signals).

import { Runtime, DefaultLogger } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createJobsWorker } from './create-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ logger: new DefaultLogger((process.env.LOG_LEVEL as 'INFO' | undefined) ?? 'INFO') });
  const { worker, close } = await createJobsWorker(config);
  console.log(
    `synapse-jobs worker: task queue ${config.TEMPORAL_TASK_QUEUE} on ${config.TEMPORAL_ADDRESS}, ` +
      `${config.WORKER_MAX_CONCURRENT_ACTIVITIES} concurrent activities, LLM at ${config.OPENAI_BASE_URL ?? "OpenAI's default endpoint"}`,
  );
  try {
    await worker.run();
  } finally {
    await close();
  }
  console.log('synapse-jobs worker: stopped');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
