// Whether a process's dependencies answer right now — PostgreSQL and the Temporal namespace — for the
// readiness probes of both the worker and the API. Each check is bounded so a hung dependency reads as down.

import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database';

export interface Readiness {
  ok: boolean;
  /** `ok`, or why the check failed. */
  checks: Record<string, string>;
}

/** The client's and the worker's connections both offer this. */
interface NamespaceDescriber {
  workflowService: { describeNamespace(request: { namespace: string }): Promise<unknown> };
}

export interface DependencyCheckDeps {
  db: Kysely<Database>;
  connection: NamespaceDescriber;
  namespace: string;
  timeoutMs?: number;
}

/** PostgreSQL answers `select 1` and Temporal describes our namespace with our credentials, each within the timeout. */
export async function checkDependencies(deps: DependencyCheckDeps): Promise<{ database: string; temporal: string }> {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  const [database, temporal] = await Promise.all([
    bounded(() => sql`select 1`.execute(deps.db), timeoutMs),
    bounded(() => deps.connection.workflowService.describeNamespace({ namespace: deps.namespace }), timeoutMs),
  ]);
  return { database, temporal };
}

async function bounded(probe: () => Promise<unknown>, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
  }
}
