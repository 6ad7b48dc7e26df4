// What each published start-request schema (schemas/<job type>.schema.json) says besides its fields: what the job
// does, and examples that really run against the demo data source, kept small (2-3 attributes, one short document)
// so each finishes in seconds. scripts/generate-schemas.ts reads this file; the Python caller's tests run every
// example.

import { JobType } from '../common/jobs';
import { DEMO_DATA_SOURCE_ID } from '../db/demo-data';

/**
 * Values an example cannot know: the caller replaces each with the real value before starting the job. A job that
 * needs an earlier job's id is the only case; every other example needs nothing but the demo data.
 */
export const PLACEHOLDERS = {
  $DATA_PROFILING_JOB_ID:
    'the job id (= workflow id) of a completed data_profiling or data_profiling_llm_generation job of the same data ' +
    'source, e.g. one started with the data_profiling example',
} as const;

/** The plan the pde_auto_mapping example fills and the pde_regeneration example maps again. */
const MAPPING_PLAN = 'example-mapping-plan';

export interface SchemaExtras {
  /** What the job does, in a sentence or two (the schema's description adds how to start it). */
  does: string;
  /** At least one; each passes validateStartRequest and runs against the demo data source. */
  examples: Record<string, unknown>[];
}

const profiledAttributes = ['credit_score', 'apr_rate', 'account_status'];

export const SCHEMA_EXTRAS: Record<JobType, SchemaExtras> = {
  [JobType.DataProfiling]: {
    does:
      'Profiles attributes (columns) of a data source: the LLM proposes validation rules per attribute, then the ' +
      'rules run against the records; the result has rules generated, rules run and the pass rate.',
    examples: [
      {
        jobType: JobType.DataProfiling,
        owner: 'analyst@example.com',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: profiledAttributes,
        llmConcurrency: 3,
        metadata: { cycle_id: 'Q3-2026', report_id: 'FR-Y9C' },
      },
    ],
  },
  [JobType.DataProfilingLlmGeneration]: {
    does: 'Only the first phase of data_profiling: the LLM proposes and stores validation rules per attribute.',
    examples: [
      {
        jobType: JobType.DataProfilingLlmGeneration,
        owner: 'analyst@example.com',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: ['credit_score', 'apr_rate'],
      },
    ],
  },
  [JobType.DataProfilingRuleExecution]: {
    does:
      'Only the second phase of data_profiling: runs the rules an earlier data_profiling or ' +
      'data_profiling_llm_generation job stored (rulesFromJobId, required) against the records.',
    examples: [
      {
        jobType: JobType.DataProfilingRuleExecution,
        owner: 'analyst@example.com',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: profiledAttributes,
        rulesFromJobId: '$DATA_PROFILING_JOB_ID',
      },
    ],
  },
  [JobType.LlmAttributeGeneration]: {
    does:
      'Reads documents (given inline, or the bundled samples) in chunks and lists the data elements they define as ' +
      "the plan's PDEs.",
    examples: [
      {
        jobType: JobType.LlmAttributeGeneration,
        owner: 'analyst@example.com',
        planId: 'example-attribute-plan',
        documents: [
          {
            name: 'card-accounts.md',
            content:
              'Account Number: the identifier of the card account, ACC followed by 8 digits.\n' +
              'Credit Limit: the maximum balance allowed on the account, in USD.\n' +
              'Annual Percentage Rate: the yearly interest rate charged on purchases, between 0 and 36.\n',
          },
        ],
      },
    ],
  },
  [JobType.PdeAutoMapping]: {
    does:
      "Maps a plan's PDEs (upserted first when pdes names them) to the data source's columns: the LLM chooses among " +
      'the best-matching catalogue columns, with confidence, classification and risk.',
    examples: [
      {
        jobType: JobType.PdeAutoMapping,
        owner: 'analyst@example.com',
        planId: MAPPING_PLAN,
        dataSourceId: DEMO_DATA_SOURCE_ID,
        pdes: [
          { name: 'Credit Score', description: 'FICO score at last review', dataType: 'integer' },
          { name: 'Annual Percentage Rate', description: 'Yearly interest rate on purchases', dataType: 'numeric' },
        ],
        candidateColumns: 5,
      },
    ],
  },
  [JobType.PdeRegeneration]: {
    does:
      'Maps some PDEs of a plan again (by pdeIds or pdeNames), replacing suggested and rejected mappings and keeping ' +
      `accepted ones. The example maps again a PDE of plan ${MAPPING_PLAN}, which the pde_auto_mapping example ` +
      'creates: start that one first.',
    examples: [
      {
        jobType: JobType.PdeRegeneration,
        owner: 'analyst@example.com',
        planId: MAPPING_PLAN,
        dataSourceId: DEMO_DATA_SOURCE_ID,
        pdeNames: ['Credit Score'],
        candidateColumns: 5,
      },
    ],
  },
  [JobType.ScopingRecommendations]: {
    does:
      "Assesses the risk of each attribute (with an earlier profiling job's results when profilingJobId names one) and " +
      'chooses the tests that cover the most risk within testBudget.',
    examples: [
      {
        jobType: JobType.ScopingRecommendations,
        owner: 'analyst@example.com',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: ['credit_score', 'apr_rate', 'annual_income'],
        testBudget: 20,
      },
    ],
  },
  [JobType.GenerateScopingRecommendations]: {
    does: 'Assesses the risk of each attribute and recommends tests for it, without choosing within a budget.',
    examples: [
      {
        jobType: JobType.GenerateScopingRecommendations,
        owner: 'analyst@example.com',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        attributeIds: ['credit_score', 'apr_rate'],
      },
    ],
  },
  [JobType.IntelligentSampling]: {
    does:
      'Draws a reproducible sample of the records sized for the confidence and margin of error asked, stratified by ' +
      'the strata columns, with edge cases guaranteed; the same seed on the same data gives the same sample.',
    examples: [
      {
        jobType: JobType.IntelligentSampling,
        owner: 'analyst@example.com',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        confidenceLevel: 0.95,
        marginOfError: 0.05,
        strataColumns: ['product_type'],
        seed: 42,
      },
    ],
  },
  [JobType.TestExecution]: {
    does:
      'Runs test cases (explicit checks in the rule DSL, and/or the rules an earlier profiling job stored) over the ' +
      "records under test (a sampling job's sample, or the whole data source), in batches; or re-runs an earlier " +
      "job's failing test cases.",
    examples: [
      {
        jobType: JobType.TestExecution,
        owner: 'analyst@example.com',
        dataSourceId: DEMO_DATA_SOURCE_ID,
        checks: [
          { attribute: 'credit_score', rule: { kind: 'range', min: 300, max: 850 }, description: 'FICO range' },
          { attribute: 'account_status', rule: { kind: 'not_null' } },
        ],
      },
    ],
  },
};
