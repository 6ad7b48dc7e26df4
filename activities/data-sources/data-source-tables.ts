// The data sources jobs read: where each one's records live and its catalogue of columns (attributes).
// Composed with the other families' tables into the one `Database` in db/database.ts.

import type { Generated } from 'kysely';

export interface DataSourcesTable {
  id: string;
  table_name: string;
  description: string;
  /** The column that identifies a record (samples and test results name records by it). */
  record_id_column: Generated<string>;
}

export interface DataSourceAttributesTable {
  data_source_id: string;
  name: string;
  data_type: string;
  description: string;
  position: number;
}

export interface DataSourceTables {
  data_sources: DataSourcesTable;
  data_source_attributes: DataSourceAttributesTable;
}
