// What an LLM activity needs to know about the job it calls for: whose budget and priority the call is
// granted under, where its token usage is recorded, and whether a stored answer may be reused.

export interface LlmCallContext {
  jobId: string;
  owner: string;
  /** 1 (highest) to 5 (lowest), as the job stands when the activity is scheduled. */
  priority: number;
  /** Reuse a stored answer to the identical prompt instead of asking again. */
  useCache: boolean;
}

/** Token usage of a job's LLM calls, summed from every call recorded (cache hits cost nothing). */
export interface LlmUsage {
  calls: number;
  cachedCalls: number;
  promptTokens: number;
  completionTokens: number;
  /** In US dollars at the configured price table; null when the model has no price configured. */
  costUsd: number | null;
}
