// The answers the stand-in gives, one responder per prompt TASK name. Tests, the demo and benchmarks all
// start the stand-in with this map, so a new LLM task only needs its responder added here.

import { ATTRIBUTE_EXTRACTION_TASK, PDE_MAPPING_TASK } from '../../activities/planning/planning-prompts';
import { VALIDATION_RULES_TASK } from '../../activities/profiling/profiling-prompts';
import { SCOPING_TASK } from '../../activities/scoping/scoping-prompts';
import { answerAttributeExtraction, answerPdeMapping } from './planning-responders';
import { answerScopingAssessment } from './scoping-responder';
import type { StandinResponder } from '../server';
import { answerValidationRules } from './profiling-responder';

const lastUserMessage = (messages: { role: string; content: string }[]) =>
  [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';

export const defaultResponders: Record<string, StandinResponder> = {
  echo: (req) => ({ item: req.itemKey ?? null, task: req.task }),
  [VALIDATION_RULES_TASK]: (req) => answerValidationRules(lastUserMessage(req.messages)),
  [ATTRIBUTE_EXTRACTION_TASK]: (req) => answerAttributeExtraction(lastUserMessage(req.messages)),
  [PDE_MAPPING_TASK]: (req) => answerPdeMapping(lastUserMessage(req.messages)),
  [SCOPING_TASK]: (req) => answerScopingAssessment(lastUserMessage(req.messages)),
};
