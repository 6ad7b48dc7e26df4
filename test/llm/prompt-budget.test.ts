// Prompts stay within LLM_MAX_PROMPT_TOKENS: every family's prompt with huge inputs (1 MB descriptions, values,
// documents; hundreds of rules) is cut, marked and trimmed least important part first, keeping what the
// stand-in and a model read it by; and a profiling job over a column of 1 MB values sends bounded prompts and
// completes.

import { sql } from 'kysely';
import { PROFILE_VALUE_MAX_CHARS, type ColumnProfile } from '../../activities/profiling/column-profile';
import { attributeExtractionPrompt, pdeMappingPrompt } from '../../activities/planning/planning-prompts';
import { fitPrompt, promptTokens, truncateText, type PromptText } from '../../activities/llm/prompt-budget';
import { VALIDATION_RULES_TASK, validationRulesPrompt } from '../../activities/profiling/profiling-prompts';
import { scopingPrompt } from '../../activities/scoping/scoping-prompts';
import type { AttributeDescriptor } from '../../common/rules';
import type { StandinRequest } from '../../llm-standin/openai-wire';
import { answerValidationRules } from '../../llm-standin/responders/profiling-responder';
import { createHarness, type Harness } from '../support/harness';

const MB = 'x'.repeat(1_000_000);
const BUDGET = 1_000;
const attribute: AttributeDescriptor = { name: 'note', dataType: 'text', description: `Free text. ${MB}` };
const line = (prompt: PromptText, marker: string) => prompt.user.split('\n').find((l) => l.startsWith(marker));
const jsonAfter = (prompt: PromptText, marker: string) => JSON.parse(line(prompt, marker)!.slice(marker.length));

describe('cutting a value (pure)', () => {
  it('leaves short text alone and marks cut text with its real length, never splitting a surrogate pair', () => {
    expect(truncateText('short', 10)).toBe('short');
    expect(truncateText('abcdefghij', 4)).toBe('abcd…[truncated, 10 characters]');
    // 'a' and two surrogate pairs: the cut at 2 would leave half of the first pair.
    expect(truncateText('a😀😀', 2)).toBe('a…[truncated, 5 characters]');
  });

  it('sends the fullest form that fits, and cuts the last form as a last resort', () => {
    const full = { system: 's', user: 'u'.repeat(100) };
    const short = { system: 's', user: 'u'.repeat(10) };
    expect(fitPrompt([() => full, () => short], 10)).toBe(short);
    expect(fitPrompt([() => full, () => short], 100)).toBe(full);
    const cut = fitPrompt([() => ({ system: 's', user: `TASK: t\nITEM: i\n${MB}` })], 50);
    expect(promptTokens(cut)).toBeLessThanOrEqual(50);
    expect(cut.user).toMatch(/^TASK: t\nITEM: i\nx+…\[truncated, 1000016 characters\]$/);
  });
});

describe("each family's prompt within the budget (pure)", () => {
  it('data profiling: a profile of 1 MB values keeps the column block parseable, trimming common values first', () => {
    const value = `${'v'.repeat(PROFILE_VALUE_MAX_CHARS)}…[truncated, 1000000 characters]`;
    const profile: ColumnProfile = {
      rows: 10,
      nulls: 0,
      distinct: 10,
      min: value,
      max: value,
      topValues: Array.from({ length: 8 }, (_, i) => ({ value: `${i}${value}`, count: 1 })),
    };
    const prompt = validationRulesPrompt('huge', attribute, profile, BUDGET);
    expect(promptTokens(prompt)).toBeLessThanOrEqual(BUDGET);
    expect(line(prompt, 'ITEM: ')).toBe('ITEM: huge.note');
    const column = JSON.parse(prompt.user.slice(prompt.user.indexOf('{')));
    expect(column).toMatchObject({
      name: 'note',
      dataType: 'text',
      description: expect.stringMatching(/^Free text\. x+…\[truncated, 1000011 characters\]$/),
    });
    expect(column.profile.topValues.length).toBeLessThan(8);
    // With room, nothing is trimmed but the description's bound.
    const roomy = JSON.parse(validationRulesPrompt('huge', attribute, profile, 16_000).user.split('Column:\n')[1]!);
    expect(roomy.profile).toEqual(profile);
  });

  it('scoping: hundreds of rules and a 1 MB description; the failing rules are kept before passing ones', () => {
    const rules = Array.from({ length: 500 }, (_, i) => ({
      kind: i === 499 ? 'pattern' : 'not_null',
      severity: 'medium' as const,
      passRate: i === 499 ? 0.5 : 1,
      failedRows: i === 499 ? 10 : 0,
      checkedRows: 20,
    }));
    // Room for the description's first 2 000 characters and 20 rules, not for all 500.
    const prompt = scopingPrompt('huge', attribute, { profilingJobId: 'p1', rules }, 1_500);
    expect(promptTokens(prompt)).toBeLessThanOrEqual(1_500);
    expect(line(prompt, 'ITEM: ')).toBe('ITEM: scope:huge.note');
    expect(jsonAfter(prompt, 'ATTRIBUTE: ').description).toMatch(/…\[truncated, 1000011 characters\]$/);
    const profiling = jsonAfter(prompt, 'PROFILING: ');
    expect(profiling.rulesOmitted).toBe(480);
    expect(profiling.rules).toHaveLength(20);
    expect(profiling.rules[0]).toMatchObject({ kind: 'pattern', failedRows: 10 });
    expect(promptTokens(scopingPrompt('huge', attribute, { profilingJobId: 'p1', rules }, BUDGET))).toBeLessThanOrEqual(
      BUDGET,
    );
  });

  it('attribute extraction: a chunk over the budget is cut at its end, inside its delimiters', () => {
    const prompt = attributeExtractionPrompt(
      { planId: 'plan', document: MB, chunkIndex: 3, content: `Field A is required. ${'y'.repeat(20_000)}` },
      BUDGET,
    );
    expect(promptTokens(prompt)).toBeLessThanOrEqual(BUDGET);
    expect(line(prompt, 'Document: ')).toMatch(/^Document: x+…\[truncated, 1000000 characters\], chunk 3$/);
    expect(prompt.user).toMatch(/<<<\nField A is required\. y+…\[truncated, 20021 characters\]\n>>>$/);
  });

  it('PDE mapping: every candidate stays nameable while 1 MB descriptions are cut', () => {
    const candidates = Array.from({ length: 20 }, (_, i) => ({
      name: `column_${i}`,
      dataType: 'text',
      description: MB,
    }));
    const prompt = pdeMappingPrompt(
      'plan',
      { pdeId: 7, name: 'Balance', description: MB, dataType: 'numeric' },
      candidates,
      BUDGET,
    );
    expect(promptTokens(prompt)).toBeLessThanOrEqual(BUDGET);
    expect(line(prompt, 'ITEM: ')).toBe('ITEM: plan/pde-7');
    expect(jsonAfter(prompt, 'CANDIDATES: ').map((c: { name: string }) => c.name)).toEqual(
      candidates.map((c) => c.name),
    );
    expect(jsonAfter(prompt, 'PDE: ').description).toMatch(/…\[truncated, 1000000 characters\]$/);
  });
});

describe('a profiling job over a column of 1 MB text values', () => {
  const MAX_PROMPT_TOKENS = 600;
  let harness: Harness;
  const prompts: string[] = [];
  beforeAll(async () => {
    const responders = {
      [VALIDATION_RULES_TASK]: (request: StandinRequest) => {
        const user = request.messages.find((m) => m.role === 'user')?.content ?? '';
        prompts.push(user);
        return answerValidationRules(user);
      },
    };
    harness = await createHarness({ config: { LLM_MAX_PROMPT_TOKENS: MAX_PROMPT_TOKENS }, responders });
    await sql`create table if not exists huge_notes (id int primary key, note text)`.execute(harness.db);
    await sql`insert into huge_notes select i, repeat(chr(97 + i), 1000000) from generate_series(1, 3) as i on conflict do nothing`.execute(
      harness.db,
    );
    await harness.db
      .insertInto('data_sources')
      .values({ id: 'huge_notes', table_name: 'huge_notes', description: '1 MB notes' })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    await harness.db
      .insertInto('data_source_attributes')
      .values({
        data_source_id: 'huge_notes',
        name: 'note',
        data_type: 'text',
        description: 'Free-text note; optional',
        position: 0,
      })
      .onConflict((oc) => oc.columns(['data_source_id', 'name']).doNothing())
      .execute();
    await harness.startWorker();
  });
  afterAll(() => harness.close());

  it('sends a prompt within LLM_MAX_PROMPT_TOKENS, the values marked as cut, and completes', async () => {
    const { jobId } = await harness.jobs.startJob({
      jobType: 'data_profiling_llm_generation',
      owner: 'huge-values',
      dataSourceId: 'huge_notes',
    });
    const job = await harness.jobs.waitForJob(jobId);
    expect(job).toMatchObject({
      status: 'completed',
      result: expect.objectContaining({ attributesProfiled: 1, attributesFailed: 0 }),
    });
    const calls = harness.standin.calls().filter((c) => c.jobId === jobId);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.promptTokens).toBeLessThanOrEqual(MAX_PROMPT_TOKENS);
    expect(prompts).toHaveLength(1);
    expect(prompts[0]).toMatch(/"(b|c|d){200}…\[truncated, 1000000 characters\]"/);
    const recorded = await harness.db
      .selectFrom('llm_calls')
      .select('prompt_tokens')
      .where('job_id', '=', jobId)
      .execute();
    expect(recorded.map((r) => r.prompt_tokens)).toEqual([calls[0]!.promptTokens]);
  });
});
