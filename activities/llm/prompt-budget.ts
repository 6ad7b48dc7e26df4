// Keeps every LLM prompt within LLM_MAX_PROMPT_TOKENS: text from the data (column values, descriptions,
// names, documents) is cut to a bounded length and marked as cut, and a prompt still over the budget is sent
// in a shorter form that drops its least important parts first. Pure, so each family's trimming is unit-tested.

export interface PromptText {
  system: string;
  user: string;
}

/** Tokens estimated at four characters each, as the fleet budget and the stand-in count them. */
export const CHARS_PER_TOKEN = 4;

/** A catalogue or plan description in a prompt: a long paragraph is plenty to judge a column by. */
export const DESCRIPTION_MAX_CHARS = 2_000;
/** A name (column, document, PDE) in a prompt: real names are far shorter. */
export const NAME_MAX_CHARS = 200;

const tokensOf = (text: string) => Math.ceil(text.length / CHARS_PER_TOKEN);

/** Each message counted on its own, as a provider counts them. */
export const promptTokens = (prompt: PromptText): number => tokensOf(prompt.system) + tokensOf(prompt.user);

/**
 * `text` cut to at most `maxChars` characters plus a marker naming its real length, so neither the model nor a
 * reader of the logs takes a cut value for the whole one. Never splits a surrogate pair.
 */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let end = Math.max(0, maxChars);
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}${truncationMarker(text.length)}`;
}

/** What follows a value cut short: its real length (as PostgreSQL's `length` or JavaScript's counts it). */
export const truncationMarker = (length: number) => `…[truncated, ${length} characters]`;

/**
 * The first of `versions` (the fullest first, each dropping more of the least important parts) within
 * `maxTokens`. When even the last is over, its user message is cut to fit (the TASK/ITEM lines lead it, so
 * they stay); with LLM_MAX_PROMPT_TOKENS at its minimum the shortest forms fit, so this is the last resort.
 */
export function fitPrompt(versions: readonly (() => PromptText)[], maxTokens: number): PromptText {
  let prompt: PromptText | undefined;
  for (const version of versions) {
    prompt = version();
    if (promptTokens(prompt) <= maxTokens) return prompt;
  }
  if (!prompt) throw new Error('fitPrompt needs at least one version of the prompt');
  const room = (maxTokens - tokensOf(prompt.system)) * CHARS_PER_TOKEN - truncationMarker(prompt.user.length).length;
  return { system: prompt.system, user: truncateText(prompt.user, Math.max(0, room)) };
}
