// Benchmark 2, against the legacy pattern: the same attributes profiled (rules generated and stored) by
// the legacy one-at-a-time loop and by our workflow, with the same stand-in latency; prints the speed-up.

import os from 'node:os';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { createOpenAiClient } from '../activities/llm/llm';
import { resolveAttributes } from '../client/profiling/profiling-definition';
import { DEMO_DATA_SOURCE_ID, DEMO_TABLE } from '../db/demo-data';
import { runLegacyProfiling } from './legacy-loop';
import { log, startBenchEnvironment } from './support/environment';
import { runJob } from './support/jobs';
import { numberArg, round, runBench, writeResult } from './support/report';

async function main(): Promise<void> {
  const n = numberArg('n', 100);
  const latencyMs = numberArg('latency-ms', 1_000);
  const concurrency = numberArg('concurrency', 50);
  const env = await startBenchEnvironment('legacy', { faults: { latencyMs, latencyJitterMs: 0 } });
  const storagePath = path.join(os.tmpdir(), `bench-jobs-storage-${process.pid}.json`);
  try {
    // 100 attributes: the demo's 110 columns, first n (beyond 110 the demo has no more).
    const attributes = (await resolveAttributes(env.db, DEMO_DATA_SOURCE_ID)).slice(0, n);
    log(`legacy loop: ${attributes.length} attributes one at a time, L = ${latencyMs} ms`);
    const openai = createOpenAiClient({
      apiKey: env.config.OPENAI_API_KEY,
      baseURL: env.config.OPENAI_BASE_URL,
      timeoutMs: env.config.LLM_REQUEST_TIMEOUT_MS,
    });
    const legacyStarted = performance.now();
    const legacy = await runLegacyProfiling(env.db, openai, {
      jobId: 'legacy-bench',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      table: DEMO_TABLE,
      attributes,
      model: env.config.OPENAI_MODEL,
      profileSampleRows: env.config.PROFILE_SAMPLE_ROWS,
      maxPromptTokens: env.config.LLM_MAX_PROMPT_TOKENS,
      storagePath,
    });
    const legacySeconds = (performance.now() - legacyStarted) / 1_000;

    const worker = await env.startWorker();
    log(`workflow: data_profiling_llm_generation of the same ${attributes.length} attributes, C = ${concurrency}`);
    const ours = await runJob(env.jobs, {
      jobType: 'data_profiling_llm_generation',
      dataSourceId: DEMO_DATA_SOURCE_ID,
      attributeIds: attributes.map((a) => a.name),
      llmConcurrency: concurrency,
      useLlmCache: false,
    });
    await worker.stop();

    writeResult(
      'legacy',
      { attributes: attributes.length, latencyMs, concurrency },
      {
        'legacy loop wall s': round(legacySeconds, 2),
        'legacy attributes completed / failed': [legacy.completed, legacy.failed],
        'workflow wall s': round(ours.seconds, 2),
        'speed-up (legacy / workflow)': round(legacySeconds / ours.seconds, 1),
        'legacy floor N·L s': round((attributes.length * latencyMs) / 1_000, 2),
      },
      [
        'Both ask the same stand-in with the same prompt and store rules and results the same way; the workflow also survives crashes, pauses, and reports progress through Temporal.',
      ],
    );
  } finally {
    rmSync(storagePath, { force: true });
    await env.close();
  }
}

runBench(main);
