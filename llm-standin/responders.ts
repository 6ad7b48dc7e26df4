// The answers the stand-in gives, one responder per prompt TASK name. Tests, the demo and benchmarks all
// start the stand-in with this map, so a new LLM task only needs its responder added here.

import { VALIDATION_RULES_TASK } from '../activities/prompts';
import type { StandinResponder } from './server';
import { answerValidationRules } from './validation-rules-responder';

const lastUserMessage = (messages: { role: string; content: string }[]) => [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';

export const defaultResponders: Record<string, StandinResponder> = {
  echo: (req) => ({ item: req.itemKey ?? null, task: req.task }),
  [VALIDATION_RULES_TASK]: (req) => answerValidationRules(lastUserMessage(req.messages)),
};
