// The chat-completions wire format as the official openai client speaks it: reading a request body (its
// response_format included), finding the ITEM/TASK lines the prompts carry, and writing completion and error bodies.

export interface StandinMessage {
  role: string;
  content: string;
}

/** What the request asks its answer to be; absent is `text`, as providers read it. */
export type StandinResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; name: string; schema: Record<string, unknown>; strict: boolean };

export interface StandinRequest {
  model: string;
  messages: StandinMessage[];
  responseFormat?: StandinResponseFormat;
  itemKey?: string;
  task?: string;
  /** The job the call is made for, from the `x-synapse-job-id` header the LLM activity sends. */
  jobId?: string;
  /** The call's own id, from the `x-synapse-call-id` header: the key its usage is recorded under in `llm_calls`. */
  callId?: string;
}

export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string | null; param?: string | null };
}

const ITEM_LINE = /^[ \t]*ITEM:[ \t]*(.+?)[ \t\r]*$/m;
const TASK_LINE = /^[ \t]*TASK:[ \t]*(.+?)[ \t\r]*$/m;

/** Providers bill by tokens; four characters a token is the usual rule of thumb for English text. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

export class BadRequest extends Error {
  /** The request field at fault, as providers name it in the error body's `param`. */
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

/** A JSON Schema response format's name, as OpenAI allows it. */
const SCHEMA_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

function responseFormatOf(value: unknown): StandinResponseFormat | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value))
    throw new BadRequest("Invalid type for 'response_format': expected an object.", 'response_format');
  if (value.type === 'text' || value.type === 'json_object') return { type: value.type };
  if (value.type !== 'json_schema')
    throw new BadRequest(
      `Invalid value: ${JSON.stringify(value.type)}. Supported values are: 'text', 'json_object' and 'json_schema'.`,
      'response_format.type',
    );
  const spec = value.json_schema;
  if (!isRecord(spec))
    throw new BadRequest("Missing required parameter: 'response_format.json_schema'.", 'response_format.json_schema');
  if (typeof spec.name !== 'string' || !SCHEMA_NAME.test(spec.name))
    throw new BadRequest(
      "Invalid 'response_format.json_schema.name': must be a-z, A-Z, 0-9, underscores or dashes, at most 64 characters.",
      'response_format.json_schema.name',
    );
  if (!isRecord(spec.schema))
    throw new BadRequest(
      "Missing required parameter: 'response_format.json_schema.schema'.",
      'response_format.json_schema.schema',
    );
  return { type: 'json_schema', name: spec.name, schema: spec.schema, strict: spec.strict === true };
}

/** Content may be a string or (for multi-part messages) an array of `{type:'text', text}` parts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (content === null || content === undefined) return '';
  if (Array.isArray(content)) {
    return content.map((part: unknown) => (isRecord(part) && typeof part.text === 'string' ? part.text : '')).join('');
  }
  throw new BadRequest('message content must be a string or an array of content parts');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a chat-completions body; throws BadRequest with an OpenAI-like message when it is not one. */
export function parseChatRequest(body: string): StandinRequest {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new BadRequest('We could not parse the JSON body of your request.');
  }
  if (!isRecord(json)) throw new BadRequest('The request body must be a JSON object.');
  if (typeof json.model !== 'string' || json.model === '') throw new BadRequest("Missing required parameter: 'model'.");
  if (json.stream === true) throw new BadRequest('The LLM stand-in does not support streaming.');
  if (!Array.isArray(json.messages) || json.messages.length === 0)
    throw new BadRequest("Missing required parameter: 'messages'.");
  const messages = json.messages.map((message: unknown): StandinMessage => {
    if (!isRecord(message) || typeof message.role !== 'string') throw new BadRequest('Each message needs a role.');
    return { role: message.role, content: contentText(message.content) };
  });
  const responseFormat = responseFormatOf(json.response_format);
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const itemKey = lastUser && ITEM_LINE.exec(lastUser.content)?.[1];
  const task = lastUser && TASK_LINE.exec(lastUser.content)?.[1];
  return {
    model: json.model,
    messages,
    ...(responseFormat ? { responseFormat } : {}),
    ...(itemKey ? { itemKey } : {}),
    ...(task ? { task } : {}),
  };
}

export const promptTokensOf = (request: Pick<StandinRequest, 'messages'>): number =>
  request.messages.reduce((sum, m) => sum + estimateTokens(m.content), 0);

export function completionBody(id: string, model: string, content: string, promptTokens: number) {
  const completionTokens = estimateTokens(content);
  return {
    id,
    object: 'chat.completion' as const,
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content, refusal: null },
        logprobs: null,
        finish_reason: 'stop' as const,
      },
    ],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

export function errorBody(
  message: string,
  type: string,
  code: string | null = null,
  param: string | null = null,
): OpenAiErrorBody {
  return { error: { message, type, code, param } };
}

/** The error type OpenAI uses for each status family (429s carry `requests`/`tokens` instead). */
export const errorTypeFor = (status: number): string => (status >= 500 ? 'server_error' : 'invalid_request_error');
