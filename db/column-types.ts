// The column shapes every family's tables share: timestamps read as Date and written as Date or ISO text, and
// JSON columns read parsed and written as the value or its JSON text.

import type { ColumnType, JSONColumnType } from 'kysely';

export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type Json<T extends object = Record<string, unknown>> = JSONColumnType<T, T | string, T | string>;
