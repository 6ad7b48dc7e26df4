// The progress status answers with: the workflow's `progress` query, one in flight per job and shared by its
// pollers; never waited on while the jobs task queue's workers are known not to answer (one background probe
// finds out when they are back); and never older than the newest progress this process has seen for the job.

import type { JobProgress } from '../common/progress';

/**
 * Where an answer's progress comes from: `live`, a worker's answer to the progress query just now; `last-live`, the
 * newest answer a worker gave this process, older than that but newer than the stored snapshot, while no worker
 * answers; `snapshot`, the progress last stored in the jobs table.
 */
export type ProgressSource = 'live' | 'last-live' | 'snapshot';

export interface ProgressAnswer {
  progress: JobProgress | undefined;
  source: ProgressSource;
}

/**
 * How many jobs' newest progress one process remembers, least recently asked about forgotten first: far more jobs
 * than one API process serves pollers for at once, at about 1 KB each. A forgotten job's next answer may again be
 * its snapshot, which is why the bound is generous.
 */
const REMEMBERED_JOBS = 10_000;

/**
 * How often, at most, a background probe asks a job's workflow whether workers answer again: a probe that fails at
 * once (the workflow is gone) must not turn into a query per request.
 */
const PROBE_EVERY_MS = 1_000;

export interface LiveProgressOptions {
  /** The job's progress query; rejects when no worker answers within the query's deadline, or the workflow is gone. */
  query: (jobId: string) => Promise<JobProgress>;
  /** Whether a rejection of `query` means that no worker answered (rather than an answer that it failed). */
  isUnanswered: (error: unknown) => boolean;
  /** STATUS_LIVE_CACHE_MS: one live answer serves every request for the job this long. */
  liveCacheMs: number;
  /**
   * STATUS_QUERY_TIMEOUT_MS, the query's deadline: also how long after the live cache an answer still counts as
   * live while a newer one is asked for.
   */
  queryTimeoutMs: number;
}

interface JobEntry {
  /** The newest progress a worker gave for the job (highest revision), and when the last answer came. */
  newest?: JobProgress;
  answeredAt: number;
  /** The query in flight for the job, if any; resolves undefined when it went unanswered or failed. */
  asking?: Promise<JobProgress | undefined>;
}

/** The revision an answer carries; 0 for progress from before revisions, below any for none at all. */
const revisionOf = (progress: JobProgress | undefined) => (progress ? (progress.revision ?? 0) : -1);

export class LiveProgress {
  /**
   * Since when the task queue's workers have not answered a query (the last one asked went unanswered); undefined
   * while they answer. A state of the queue, not of a job: every job on it has lost its workers at once.
   */
  private silentSince: number | undefined;
  private probe: Promise<unknown> | undefined;
  private lastProbeAt = 0;
  /** Per job, in order of last use (a Map keeps insertion order; a use moves the job to the end). */
  private readonly jobs = new Map<string, JobEntry>();

  constructor(private readonly options: LiveProgressOptions) {}

  /** True while the last query asked went unanswered and no later one has been answered. */
  workersSilent(): boolean {
    return this.silentSince !== undefined;
  }

  /**
   * The job's progress for one status request. `stored` is its snapshot from the jobs table; `workersMayAnswer`
   * false (Temporal unreachable, no worker polls the queue) means no query is sent. A request waits for a query only
   * while the queue's workers answer and this process has no answer of the job's to give (its first request, or a
   * poll after a long pause); otherwise it is answered at once, and a query in the background brings the next one.
   */
  async answer(jobId: string, stored: JobProgress | undefined, workersMayAnswer: boolean): Promise<ProgressAnswer> {
    const entry = this.entry(jobId);
    if (!workersMayAnswer) return this.best(entry, stored);
    if (this.silentSince !== undefined) {
      this.probeWith(jobId);
      return this.best(entry, stored);
    }
    const age = Date.now() - entry.answeredAt;
    if (age < this.options.liveCacheMs) return this.best(entry, stored);
    // A live answer a little old, or one being refreshed: served at once while the query brings a newer one.
    if (entry.newest !== undefined && (entry.asking || age < this.options.liveCacheMs + this.options.queryTimeoutMs)) {
      void this.ask(jobId, entry);
      return this.best(entry, stored);
    }
    await this.ask(jobId, entry);
    return this.best(entry, stored);
  }

  /** Takes progress a worker gave otherwise (a control update's answer) as the job's live answer. */
  offer(jobId: string, progress: JobProgress): void {
    this.remember(this.entry(jobId), progress);
  }

  /**
   * The job's next request asks its workflow again instead of taking the live answer shared a moment ago (a control
   * decision needs the state now). The newest progress seen stays: no answer may be older than it.
   */
  refresh(jobId: string): void {
    const entry = this.jobs.get(jobId);
    if (entry) entry.answeredAt = 0;
  }

  /** Forgets the job (it has ended: its final snapshot is the newest there is). */
  forget(jobId: string): void {
    this.jobs.delete(jobId);
  }

  /**
   * The newer of the newest live answer and the snapshot (the live one on a tie, when it is recent): `live` while
   * the last answer is recent, `last-live` after that.
   */
  private best(entry: JobEntry, stored: JobProgress | undefined): ProgressAnswer {
    const { newest } = entry;
    const recent = Date.now() - entry.answeredAt < this.options.liveCacheMs + this.options.queryTimeoutMs;
    const newer = revisionOf(newest) - revisionOf(stored);
    if (newest === undefined || newer < 0 || (newer === 0 && !recent)) return { progress: stored, source: 'snapshot' };
    return { progress: newest, source: recent ? 'live' : 'last-live' };
  }

  /** The job's query, one in flight per job: settles the queue's state and the job's newest progress. */
  private ask(jobId: string, entry: JobEntry): Promise<JobProgress | undefined> {
    entry.asking ??= this.options
      .query(jobId)
      .then(
        (progress) => {
          this.silentSince = undefined;
          this.remember(entry, progress);
          return progress;
        },
        (error: unknown) => {
          if (this.options.isUnanswered(error)) this.silentSince ??= Date.now();
          // Answered otherwise (the workflow is gone or failed the query): the stored snapshot is the best answer.
          return undefined;
        },
      )
      .finally(() => (entry.asking = undefined));
    return entry.asking;
  }

  /** While the workers are silent: one query at a time, in the background, finds out when they are back. */
  private probeWith(jobId: string): void {
    if (this.probe || Date.now() - this.lastProbeAt < PROBE_EVERY_MS) return;
    this.lastProbeAt = Date.now();
    this.probe = this.ask(jobId, this.entry(jobId)).finally(() => (this.probe = undefined));
  }

  private remember(entry: JobEntry, progress: JobProgress): void {
    entry.answeredAt = Date.now();
    // Answers to queries in flight together may come back in either order: keep the newer.
    if (revisionOf(progress) >= revisionOf(entry.newest)) entry.newest = progress;
  }

  /** The job's entry, made the most recently used; the least recently used beyond REMEMBERED_JOBS are dropped. */
  private entry(jobId: string): JobEntry {
    const entry = this.jobs.get(jobId) ?? { answeredAt: 0 };
    this.jobs.delete(jobId);
    this.jobs.set(jobId, entry);
    if (this.jobs.size > REMEMBERED_JOBS) this.jobs.delete(this.jobs.keys().next().value!);
    return entry;
  }
}
