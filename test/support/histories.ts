// Saving a finished job's workflow history for test/replay.test.ts, when RECORD_HISTORIES=1 asks for it.
// The CLI's JSON is the format historyFromJSON reads (and what an operator exports from production).

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporalCliPath } from './temporal-cli';

export const HISTORY_DIR = path.resolve(__dirname, '../histories');

export function saveHistory(temporalAddress: string, workflowId: string, name: string): void {
  const json = execFileSync(temporalCliPath(), [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    '--address',
    temporalAddress,
    '--output',
    'json',
  ]);
  writeFileSync(path.join(HISTORY_DIR, `${name}.json`), json);
}

/** Saves the history only under RECORD_HISTORIES=1; otherwise does nothing. */
export function recordHistoryIfAsked(temporalAddress: string, workflowId: string, name: string): void {
  if (process.env.RECORD_HISTORIES) saveHistory(temporalAddress, workflowId, name);
}
