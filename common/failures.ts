// The closed set of ApplicationFailure types our activities raise (and the job-control updates' validators
// reject with). Retry policies and the client refer to these constants, never to string literals, so a name
// cannot drift between thrower and reader.

export const FailureType = {
  /** The provider answered 429; retried after its Retry-After (nextRetryDelay). */
  LlmRateLimited: 'LlmRateLimited',
  /** 5xx, connection reset or request timeout; retried with the policy's backoff. */
  LlmUnavailable: 'LlmUnavailable',
  /** 400/401/403/404/422, context length exceeded, or an answer schema no provider would take: retrying cannot help. */
  LlmRejectedRequest: 'LlmRejectedRequest',
  /** The model kept answering with output that does not match the schema. */
  InvalidLlmOutput: 'InvalidLlmOutput',
  /**
   * A rule or job input that can never run (unknown column, bad DSL), or a start request that does not validate
   * (wrong, missing or unknown fields, unknown data source or attribute): the message names every offending field,
   * details carry `{ problems: [{ field, problem }] }`.
   */
  InvalidJobInput: 'InvalidJobInput',
  /** The owner already has JOB_MAX_ACTIVE_PER_OWNER active jobs: the start is refused, nothing recorded. */
  QuotaExceeded: 'QuotaExceeded',
  /** The job id (workflow id) already belongs to a finished job, or to a job of another type: refused, that job untouched. */
  JobIdTaken: 'JobIdTaken',
  /**
   * A statement against a data source that can never succeed (SQLSTATE class 42 or 22: missing table or
   * column, no operator for the stored type, bad data for a cast, invalid regex, no privilege; see
   * activities/data-sources/sql-errors.ts). The message names the SQLSTATE; details carry `{ sqlstate }`.
   */
  DataSourceError: 'DataSourceError',
  /** The job ran to the end but produced nothing usable (e.g. every attribute failed). */
  JobFailed: 'JobFailed',
  /**
   * A control update (pause, resume, setPriority) whose argument is malformed (`{"priority": 9}`, a bare string);
   * the validator rejects it before it is written to history. The client answers 400.
   */
  ControlRequestInvalid: 'ControlRequestInvalid',
  /**
   * A control update the job's state does not allow (pause a paused job, resume a running one, re-prioritise an
   * ended one); rejected by the validator, nothing written to history. The client answers 409.
   */
  ControlStateRefused: 'ControlStateRefused',
  /**
   * A completion callback whose URL is outside CALLBACK_ALLOWED_HOSTS when it is about to be sent (the setting changed
   * since the start), or no CALLBACK_SECRET to sign it with: nothing is sent, the job's final state stays as it is.
   */
  CallbackRefused: 'CallbackRefused',
  /** A completion callback the receiver did not accept (no answer, not 2xx, a redirect); retried with backoff. */
  CallbackFailed: 'CallbackFailed',
  /**
   * An LLM activity scheduled ahead of its job's calls found the job paused while it waited for one of the job's LLM
   * slots (activities/llm/job-gate.ts): nothing was sent or stored, and the workflow puts the item back in its queue.
   */
  LlmCallDeferred: 'LlmCallDeferred',
} as const;

export type FailureType = (typeof FailureType)[keyof typeof FailureType];
