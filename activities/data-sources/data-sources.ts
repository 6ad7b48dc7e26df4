// Where a data source's records live, for every activity that reads them: its table and record-id column,
// with the columns a job names checked against its catalogue. An unknown data source or column is bad
// input that no retry can mend, so it fails at once.

import { ApplicationFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import { FailureType } from '../../common/failures';
import type { Database } from '../../db/database';

export interface DataSourceTable {
  table: string;
  recordId: string;
}

/** The data source's table and record-id column, checking that `columns` are in its catalogue. */
export async function sourceTable(
  db: Kysely<Database>,
  dataSourceId: string,
  columns: string[] = [],
): Promise<DataSourceTable> {
  const source = await db
    .selectFrom('data_sources')
    .select(['table_name', 'record_id_column'])
    .where('id', '=', dataSourceId)
    .executeTakeFirst();
  if (!source)
    throw ApplicationFailure.nonRetryable(`unknown data source ${dataSourceId}`, FailureType.InvalidJobInput);
  if (columns.length > 0) {
    const known = await db
      .selectFrom('data_source_attributes')
      .select('name')
      .where('data_source_id', '=', dataSourceId)
      .where('name', 'in', columns)
      .execute();
    const missing = columns.filter((c) => !known.some((k) => k.name === c));
    if (missing.length > 0)
      throw ApplicationFailure.nonRetryable(
        `columns not in the catalogue of ${dataSourceId}: ${missing.join(', ')}`,
        FailureType.InvalidJobInput,
      );
  }
  return { table: source.table_name, recordId: source.record_id_column };
}
