// The job-control contract every workflow honours, written once: pause/resume/setPriority as updates (validated,
// answered with progress) and as signals (stock CLI, old callers), the progress query, the gate checked before each
// unit of work, progress bookkeeping (query, Web UI current details, the jobs-table snapshot) and the final state.

import {
  ActivityFailure,
  CancellationScope,
  ContinueAsNew,
  type ActivityInterfaceFor,
  type ActivityOptions,
  condition,
  currentUpdateInfo,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  metricMeter,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { ApplicationFailure } from '@temporalio/common';
import type { JobActivities } from '../../activities';
import { FailureType } from '../../common/failures';
import {
  FINAL_STATUSES,
  jobTypeOfWorkflow,
  PRIORITY_BY_NAME,
  type CarriedControl,
  type JobInputBase,
  type JobResult,
  type JobStart,
  type JobStatus,
} from '../../common/jobs';
import type { LlmCallContext } from '../../common/llm';
import type { JobProgress } from '../../common/progress';
import { JobPriorityKey, JobStatusKey, jobSearchAttributes } from '../../common/search-attributes';
import { ADMISSION_ACTIVITY, CALLBACK_ACTIVITY, JOB_RECORD_ACTIVITY } from './activity-options';
import { runEach, type EachOptions } from './run-each';

export interface PauseRequest {
  /** Also stop the units already in flight (they are redone on resume) instead of letting them finish. */
  now?: boolean;
}

export interface PriorityRequest {
  /** 1 (highest) to 5 (lowest). */
  priority: number;
}

/** The `setPriority` update's argument: a level as the API takes it, by number or by name. */
export interface PriorityChange {
  priority: number | keyof typeof PRIORITY_BY_NAME;
}

/**
 * What the client adds to a signal it sends because the update it sent first got no answer in time (no worker): that
 * update's id, so that the update, should a worker still receive it later, is rejected instead of applied twice.
 */
export interface FallbackOf {
  supersedes?: string;
}

export const pauseSignal = defineSignal<[(PauseRequest & FallbackOf)?]>('pause');
export const resumeSignal = defineSignal<[FallbackOf?]>('resume');
export const setPrioritySignal = defineSignal<[PriorityRequest & FallbackOf]>('setPriority');
export const progressQuery = defineQuery<JobProgress>('progress');

/**
 * The same actions as updates: a validator refuses what cannot apply (no history event), the answer is progress.
 * Pause's argument is required in its type only because the SDK's client types take no optional one; the stock CLI
 * may still send none, which validator and handler accept.
 */
export const pauseUpdate = defineUpdate<JobProgress, [PauseRequest]>('pause');
export const resumeUpdate = defineUpdate<JobProgress, []>('resume');
export const setPriorityUpdate = defineUpdate<JobProgress, [PriorityChange]>('setPriority');

type ControlAction = 'pause' | 'resume' | 'setPriority';

/** Why a control request cannot apply: its argument (400 to the API's callers) or the job's state (409). */
interface Refusal {
  type: typeof FailureType.ControlRequestInvalid | typeof FailureType.ControlStateRefused;
  reason: string;
}

const { recordJobState } = proxyLocalActivities<JobActivities>(JOB_RECORD_ACTIVITY);
const { admitJob } = proxyLocalActivities<JobActivities>(ADMISSION_ACTIVITY);

/** How many snapshots of progress a job writes to the jobs table over its life (plus every status change). */
const SNAPSHOTS_PER_JOB = 50;

/**
 * From this version on, a paused job does not end until it is resumed (or cancelled), even when its last units
 * finish while it is paused (a plain pause lets units in flight finish). Older histories ended regardless.
 */
const PAUSED_JOB_WAITS_FOR_RESUME = 'paused-job-waits-for-resume';

/**
 * From this version on, a job workflow's argument is the caller's start request, admitted by its first activity
 * (validated, resolved, the job row written); older histories were started with the input already resolved.
 */
const ADMITTED_START = 'start-request-admitted';

/**
 * From this version on, a continued run starts in the status its job had (running or paused); before, it said pending
 * until its body began, and refused a resume (or accepted a pause as of a pending job) meanwhile.
 */
const CONTINUED_RUN_KEEPS_STATUS = 'continued-run-keeps-status';

/** Used when an input predates `historyEventBudget`: well under the server's 10 240-event warning. */
const DEFAULT_HISTORY_EVENT_BUDGET = 4_000;

/**
 * From this version on, a run stops starting units while those in flight and its closing events could still carry its
 * history past the budget (they used to land after it: 4 146 events in a 4 000 budget at 50 in flight). Older
 * histories checked the history length alone.
 */
const HISTORY_ROOM_FOR_IN_FLIGHT = 'history-room-for-units-in-flight';
/**
 * From this version on, two changes are decided once, in the constructor (each run's first activation):
 * - HISTORY_ROOM_FOR_IN_FLIGHT's room for units in flight, which older runs decided at their first unit (they replay as
 *   they ran: this id is absent from their history, so the old one is asked as before);
 * - the completion callback: a job whose input names a `callbackUrl` POSTs its outcome there once its final state is
 *   written (an activity after the final record). Older histories never had the field.
 * Never asked right after a local activity (the admission, the final record): a replay takes a local activity's result
 * at its marker, which can be an activation earlier than the run took it, before a patch marker that follows is
 * announced, and the replay then fails as non-deterministic (a restarted worker's job in job-api's test hung on it).
 * One id for both, since each marker adds two events (the marker and its search attribute) to every run.
 */
const RUN_START_DECISIONS = 'run-start-decisions';

/**
 * From this version on, an LLM-bound fan-out at a concurrency of 20 or more (forEach with `llmCalls` > 1) carries
 * several items to a unit (llmItemsPerUnit) and keeps three times its calls in flight (llmUnitsInFlight); each call
 * carries the job's concurrency for the worker to hold it to (activities/llm/job-gate.ts). An item's column profile and
 * stored-result check run while earlier calls are out, a slot freed by an answer goes to a waiting call on the worker,
 * not after a workflow task, and a tenth of the activities cost the server and worker a tenth of the CPU. A call still
 * waiting for a slot when the job is paused is deferred (LlmCallDeferred) and its unit goes back to the queue. Decided
 * in the constructor like RUN_START_DECISIONS; older runs, and every run below 20, keep one unit per call.
 */
const LLM_CALLS_GATED_BY_WORKER = 'llm-calls-gated-by-worker';

/**
 * From this version on, a fan-out runs runEach's lean loop: one cancellation scope for the units started since the last
 * pause-now instead of one each, one wait at the gate per wake-up with every free place filled then, one handler at a
 * unit's end. Same outcomes for less of the worker's CPU per unit (bench:overhead); its commands come in a different
 * order, so it is decided in the constructor like RUN_START_DECISIONS, and older runs keep the loop they ran.
 */
const LEAN_FAN_OUT = 'lean-fan-out';

/**
 * From this version on, the jobs-table snapshots of a job's steps are at least SNAPSHOT_MIN_INTERVAL_MS apart: one due
 * sooner waits for the interval (a timer, so a job whose steps then stall still has them written), while a status
 * change is written at once, as before, and starts no interval. The job's end writes its final state with no snapshot
 * of the ending status before it, and continue-as-new waits only for a write under way (the next run writes its own at
 * once). And the lean loop wakes from one promise that a unit's end resolves instead of racing every unit in flight,
 * and starts the units of a wake-up inside one run of their shared scope. A snapshot is a local activity, and the
 * workflow task that asks for it is held until it is written: every 2 % of 2 000 no-op items at 50 in flight held the
 * fan-out's task every 80 ms, and the job took 1.08-1.10 times a bare Temporal window (bench:overhead). Its commands
 * come at other moments, so it is decided in the constructor like RUN_START_DECISIONS; older runs keep what they ran.
 */
const SNAPSHOTS_PACED = 'snapshots-paced';

/**
 * The shortest time between two snapshots of a job's steps (the jobs table, what the status API serves once no worker
 * answers): one a second keeps the table within about a second of the job and costs a fan-out of 500 items a second
 * one held workflow task and one timer a second, where the 2 % rule alone held ten tasks.
 */
const SNAPSHOT_MIN_INTERVAL_MS = 1_000;

/** The most items one unit of an LLM-bound fan-out carries (llmItemsPerUnit). */
const ITEMS_PER_LLM_UNIT_MAX = 10;

/**
 * Units an LLM-bound fan-out keeps in flight at `concurrency` calls with `perUnit` calls a unit. A unit ends with its
 * last call, so its answered calls hold places too: three times the calls keeps calls waiting for every slot freed
 * (bench:efficiency, C = 50 in units of 5: slot hand-off p95 130-190 ms, against 330-1 070 ms at twice the calls).
 */
function llmUnitsInFlight(concurrency: number, perUnit: number): number {
  return Math.ceil((3 * concurrency) / perUnit);
}

/**
 * Events a unit in flight may still add: its activity's scheduled, started and closed events, and at worst a workflow
 * task of its own (scheduled, started, completed) to take the result. A unit whose failure is recorded adds one more
 * activity, rare enough for the budget's margin under the server's 4 096-event mark to absorb.
 */
const EVENTS_PER_UNIT_IN_FLIGHT = 6;

/**
 * Events after the check that are no unit's: the workflow task the check runs in, the snapshot carryOver waits for (a
 * local activity's marker and its workflow task) and continue-as-new or the final record, with room to spare. With
 * this and 6 a unit, bench:scale's runs (50 in flight) stop scheduling near event 3 700 and end near 3 820.
 */
const CLOSING_EVENTS = 40;

/** How a job's body ended; `result` is what its workflow returns and its row keeps (e.g. ProfilingJobResult). */
export interface JobOutcome<R extends JobResult = JobResult> {
  status: 'completed' | 'failed';
  error: string | null;
  result: R;
}

export class JobControl {
  private status: JobStatus = 'pending';
  private paused = false;
  private completed = 0;
  private failed = 0;
  private inFlight = 0;
  /** Set once historyIsFull has said so: this run starts no further unit. */
  private historyFull = false;
  /**
   * HISTORY_ROOM_FOR_IN_FLIGHT as decided in the run's first activation (RUN_START_DECISIONS).
   */
  private readonly roomForInFlightFromStart: boolean;
  private currentStep = 'Waiting to start';
  private message = '';
  private startedAt: number | null = null;
  private activeMs = 0;
  private activeSince: number | null = null;
  private readonly pauseNowListeners = new Set<() => void>();
  /** Ids of updates a client gave up waiting for and sent as signals instead (FallbackOf). */
  private readonly superseded = new Set<string>();
  private changes = 0;
  private persistedChanges = 0;
  /**
   * JobProgress.revision: counts every touch(), so it grows with each change of progress; in-memory state that
   * replays to the same value and adds no command, hence no patch.
   */
  private revision = 0;
  private stepsAtLastSnapshot = 0;
  /** SNAPSHOTS_PACED, decided in the constructor; and with it, when the writer last asked for a snapshot of steps. */
  private readonly snapshotsPaced: boolean;
  private lastSnapshotAt = 0;
  /** SNAPSHOTS_PACED: a status changed, so the pending snapshot is written without waiting for the interval. */
  private snapshotDue = false;
  /** SNAPSHOTS_PACED: a snapshot is being written (the writer's local activity is under way). */
  private writing = false;
  /** SNAPSHOTS_PACED: the run is ending (its final state, or continue-as-new): the writer asks for nothing more. */
  private writerClosed = false;

  private readonly jobId: string;
  private readonly jobType: string;
  // Known once the start request is admitted (JobControl.begin).
  private owner: string;
  private priority: number;
  private historyEventBudget: number;
  private useLlmCache: boolean;
  /** Where the outcome is POSTed once the job ends (JobInputBase.callbackUrl); undefined when nowhere. */
  private callbackUrl: string | undefined;
  /** Whether a `callbackUrl` is called back (RUN_START_DECISIONS), decided in the constructor. */
  private readonly callbacksOn: boolean;
  /** LLM_CALLS_GATED_BY_WORKER, decided in the constructor. */
  private readonly llmCallsGated: boolean;
  /** Whether fan-outs run runEach's lean loop (LEAN_FAN_OUT), decided in the constructor. */
  private readonly leanFanOut: boolean;
  /** The LLM concurrency of the LLM-bound fan-out under way, which its calls carry when they are gated. */
  private llmConcurrency: number | undefined;
  /** Set by a priority change made while the request was being admitted, which the request's own must not undo. */
  private priorityChanged = false;
  private readonly carried: CarriedControl | undefined;

  /**
   * The job's control and its input. A continued run's argument is its input; so is a first run's in a history
   * from before ADMITTED_START. Otherwise the argument is the caller's start request, which the admission
   * activity validates and resolves: meanwhile the job answers `progress` and takes pause, resume, priority and
   * cancel like any pending job; a request it refuses fails the workflow at once with the refusal's failure type
   * (InvalidJobInput naming every offending field, QuotaExceeded, JobIdTaken). `totalSteps` sizes the job from its
   * input.
   */
  static async begin<I extends JobInputBase>(
    start: JobStart<I> | undefined,
    totalSteps: (input: I) => number,
  ): Promise<[JobControl, I]> {
    if (isResolvedInput(start) || !patched(ADMITTED_START)) {
      // Resolved by the run before, or by a client from before ADMITTED_START (this old history's, or one whose
      // start reaches a worker that has it).
      const input = start as I;
      return [new JobControl(input, totalSteps(input)), input];
    }
    const control = new JobControl(
      {
        jobId: workflowInfo().workflowId,
        jobType: jobTypeOfWorkflow(workflowInfo().workflowType) ?? workflowInfo().workflowType,
        owner: '',
        priority: PRIORITY_BY_NAME.normal,
        historyEventBudget: DEFAULT_HISTORY_EVENT_BUDGET,
        useLlmCache: true,
      },
      0,
    );
    control.currentStep = 'Checking the start request';
    // Not cancellable: the admission is short, and a cancel meanwhile is honoured once it has written the row (the
    // job's first step then ends it cancelled, recorded), rather than leaving a row no workflow writes again.
    const input = await CancellationScope.nonCancellable(() => admitJob({ request: start })).catch((error: unknown) => {
      throw admissionFailure(error);
    });
    // The activity returns the input this job type's family resolved (activities/jobs/job-admission.ts).
    const admitted = input as I;
    control.admitted(admitted, totalSteps(admitted));
    return [control, admitted];
  }

  constructor(
    /** `jobType` only labels progress and metrics, so a job outside JobType (the bench's no-op job) names its own. */
    job: Pick<
      JobInputBase,
      'jobId' | 'owner' | 'priority' | 'historyEventBudget' | 'useLlmCache' | 'carried' | 'callbackUrl'
    > & {
      jobType: string;
    },
    private totalSteps: number,
  ) {
    ({
      jobId: this.jobId,
      jobType: this.jobType,
      owner: this.owner,
      priority: this.priority,
      carried: this.carried,
    } = job);
    this.historyEventBudget = job.historyEventBudget ?? DEFAULT_HISTORY_EVENT_BUDGET;
    this.useLlmCache = job.useLlmCache ?? true;
    this.roomForInFlightFromStart = this.callbacksOn = patched(RUN_START_DECISIONS);
    this.llmCallsGated = patched(LLM_CALLS_GATED_BY_WORKER);
    this.leanFanOut = patched(LEAN_FAN_OUT);
    this.snapshotsPaced = patched(SNAPSHOTS_PACED);
    this.callbackUrl = job.callbackUrl;
    if (this.carried) {
      ({
        completed: this.completed,
        failed: this.failed,
        paused: this.paused,
        priority: this.priority,
        activeMs: this.activeMs,
        currentStep: this.currentStep,
      } = this.carried);
      this.revision = this.carried.revision ?? 0;
      this.stepsAtLastSnapshot = this.completed + this.failed;
      // A continued run is the same job going on: from its first moment it answers as running or paused, not pending
      // (a resume sent just as the run before continued as new was refused as "pending").
      if (patched(CONTINUED_RUN_KEEPS_STATUS)) this.status = this.paused ? 'paused' : 'running';
    }
    this.registerHandlers();
  }

  /**
   * Every signal, update and query of the contract. A signal that cannot apply is dropped as it always was, now with
   * a warning in the worker's log saying why (logging adds nothing to history); an update that cannot apply is
   * rejected by its validator with the same reason, before anything is written to history.
   */
  private registerHandlers(): void {
    setHandler(pauseSignal, (request) => {
      this.noteFallback(request);
      if (!this.ignored('pause', request, 'signal')) this.pause(request ?? {});
    });
    setHandler(resumeSignal, (request) => {
      this.noteFallback(request);
      if (!this.ignored('resume', request, 'signal')) this.resume();
    });
    setHandler(setPrioritySignal, (request) => {
      this.noteFallback(request);
      if (!this.ignored('setPriority', request, 'signal')) this.setPriority(request.priority);
    });
    setHandler(progressQuery, () => this.progress());
    setHandler<JobProgress, [PauseRequest], typeof pauseUpdate>(
      pauseUpdate,
      (request: PauseRequest | undefined) => {
        this.pause(request ?? {});
        return this.progress();
      },
      { validator: (request: PauseRequest | undefined) => this.validate('pause', request) },
    );
    setHandler<JobProgress, [], typeof resumeUpdate>(
      resumeUpdate,
      () => {
        this.resume();
        return this.progress();
      },
      // The stock CLI sends no argument, or `{}` (accepted too); the update's type has no parameter to name it by.
      { validator: (...args: unknown[]) => this.validate('resume', args[0]) },
    );
    setHandler<JobProgress, [PriorityChange], typeof setPriorityUpdate>(
      setPriorityUpdate,
      ({ priority }) => {
        this.setPriority(typeof priority === 'number' ? priority : PRIORITY_BY_NAME[priority]);
        return this.progress();
      },
      { validator: (request) => this.validate('setPriority', request) },
    );
  }

  /**
   * Why `action` with `arg` cannot apply to the job as it stands, or undefined when it can: one judge for the update
   * validators and the signal handlers. Signals keep what they always accepted (any `now`, setPriority on an ended
   * job, which only relabels it), so the histories of running jobs replay the same; updates are held to their types.
   */
  private refusalOf(action: ControlAction, arg: unknown, via: 'update' | 'signal'): Refusal | undefined {
    const invalid = (expected: string): Refusal => ({
      type: FailureType.ControlRequestInvalid,
      reason: `${action} expects ${expected}, got ${JSON.stringify(arg) ?? 'undefined'}`,
    });
    const wrongState = (appliesTo: string): Refusal => ({
      type: FailureType.ControlStateRefused,
      reason: `cannot ${action} job ${this.jobId}: it is ${this.status} (${action} applies to ${appliesTo} jobs)`,
    });
    switch (action) {
      case 'pause':
        if (via === 'update' && arg !== undefined && !hasOnly(arg, { now: (v) => typeof v === 'boolean' }))
          return invalid('no argument or {"now": true|false}');
        return this.status === 'pending' || this.status === 'running' ? undefined : wrongState('pending or running');
      case 'resume':
        if (via === 'update' && arg !== undefined && arg !== null && !hasOnly(arg, {})) return invalid('no argument');
        return this.status === 'paused' ? undefined : wrongState('paused');
      case 'setPriority': {
        const level = isRecord(arg) ? arg.priority : undefined;
        if (via === 'signal') return isPriority(level) ? undefined : invalid('{"priority": 1-5}');
        if (!hasOnly(arg, { priority: (v) => isPriority(v) || (typeof v === 'string' && v in PRIORITY_BY_NAME) }))
          return invalid('{"priority": 1-5 | "high" | "normal" | "low"}');
        return FINAL_STATUSES.includes(this.status) ? wrongState('pending, running or paused') : undefined;
      }
    }
  }

  /** An update's validator: throws (rejecting the update, no history event) when it cannot apply. */
  private validate(action: ControlAction, arg: unknown): void {
    const id = currentUpdateInfo()?.id;
    const refusal: Refusal | undefined =
      id !== undefined && this.superseded.has(id)
        ? {
            type: FailureType.ControlStateRefused,
            reason: `${action} update ${id} was already applied as the signal sent when it got no answer`,
          }
        : this.refusalOf(action, arg, 'update');
    if (refusal) throw ApplicationFailure.create({ type: refusal.type, message: refusal.reason, nonRetryable: true });
  }

  /** True, after logging why, when a signal cannot apply and is dropped. */
  private ignored(action: ControlAction, arg: unknown, via: 'signal'): boolean {
    const refusal = this.refusalOf(action, arg, via);
    if (refusal) log.warn(`${action} signal ignored: ${refusal.reason}`, { jobId: this.jobId, reason: refusal.reason });
    return refusal !== undefined;
  }

  private noteFallback(request: unknown): void {
    const id = isRecord(request) ? request.supersedes : undefined;
    if (typeof id === 'string') this.superseded.add(id);
  }

  /** The admitted job's identity and knobs, and the search attributes a direct start did not set. */
  private admitted(input: JobInputBase, totalSteps: number): void {
    ({
      owner: this.owner,
      historyEventBudget: this.historyEventBudget,
      useLlmCache: this.useLlmCache,
      callbackUrl: this.callbackUrl,
    } = input);
    if (!this.priorityChanged) this.priority = input.priority;
    this.totalSteps = totalSteps;
    this.currentStep = 'Waiting to start';
    upsertSearchAttributes(jobSearchAttributes({ ...input, priority: this.priority }));
    this.touch();
  }

  /**
   * Activity options carrying the job's current priority, and the owner as fairness key so that one
   * owner's big job cannot starve another owner's small one. Read at scheduling time, so a priority
   * change applies to every unit not yet scheduled.
   */
  activityOptions<T extends ActivityOptions>(base: T): T {
    return { ...base, priority: { priorityKey: this.priority, fairnessKey: this.owner } };
  }

  /**
   * The family's activities `A` (activities/index.ts), scheduled with `base` and the job's priority at this
   * moment. Take a fresh proxy for each call, so a priority change applies to every unit scheduled after it.
   */
  activities<A>(base: ActivityOptions): ActivityInterfaceFor<A> {
    return proxyActivities<A>(this.activityOptions(base));
  }

  /** What an LLM activity scheduled now needs to know about the job (owner and priority for the budget, cache use). */
  llmCall(): LlmCallContext {
    const call = { jobId: this.jobId, owner: this.owner, priority: this.priority, useCache: this.useLlmCache };
    return this.llmConcurrency === undefined ? call : { ...call, concurrency: this.llmConcurrency };
  }

  /** Runs the job's body and records how it ended; cancellation and failure are recorded, then rethrown. */
  async run<R extends JobResult>(body: () => Promise<JobOutcome<R>>): Promise<R> {
    this.startedAt = this.carried?.startedAt ?? Date.now();
    // A pause can arrive before the first step (the job was still pending): honour it from the start.
    if (!this.paused) this.activeSince = Date.now();
    this.setStatus(this.paused ? 'paused' : 'running');
    void CancellationScope.nonCancellable(() => this.keepJobRecordCurrent());
    let outcome: JobOutcome<R>;
    try {
      outcome = await body();
      if (this.paused && patched(PAUSED_JOB_WAITS_FOR_RESUME)) await condition(() => !this.paused);
    } catch (error) {
      // The job goes on in a fresh run: nothing has ended.
      if (error instanceof ContinueAsNew) throw error;
      let ending = error;
      // A job that broke while paused says so once it is resumed; a cancel meanwhile ends it cancelled.
      if (!isCancellation(error) && this.paused && patched(PAUSED_JOB_WAITS_FOR_RESUME))
        ending = await condition(() => !this.paused).then(
          () => error,
          (cancel: unknown) => cancel,
        );
      const cancelled = isCancellation(ending);
      await CancellationScope.nonCancellable(() =>
        this.finish(cancelled ? 'cancelled' : 'failed', cancelled ? 'Cancelled by request' : describeError(ending)),
      );
      throw ending;
    }
    await this.finish(outcome.status, outcome.error, outcome.result);
    // A failed job also fails its workflow, so the Web UI and `temporal workflow list` agree with the API.
    if (outcome.status === 'failed')
      throw ApplicationFailure.nonRetryable(outcome.error ?? 'job failed', FailureType.JobFailed);
    return outcome.result;
  }

  beginPhase(currentStep: string): void {
    this.currentStep = currentStep;
    this.touch();
  }

  /**
   * Runs `work` for each item, at most `concurrency` at once, waiting at the gate while the job is paused.
   * Returns the items not started because this run's history is full (empty when all were done): the
   * caller hands them to `continueAsNew`, which carries on in a fresh run.
   *
   * With `llmCalls`, each unit makes that many LLM calls through `llmCall()` and `concurrency` is the job's LLM
   * concurrency; with several (LLM_CALLS_GATED_BY_WORKER) more units are in flight, and the worker holds their calls to
   * `concurrency`.
   */
  async forEach<T>(
    items: readonly T[],
    options: Omit<EachOptions<T>, 'gate' | 'onStart' | 'onDone' | 'onPauseNow' | 'shouldYield'> & {
      /** How many LLM calls one unit makes (`llmItemsPerUnit`); the fan-out is then LLM-bound and may be gated. */
      llmCalls?: number;
    },
  ): Promise<T[]> {
    const { llmCalls, ...each } = options;
    const gated = llmCalls !== undefined && llmCalls > 1 && this.llmCallsGated;
    this.llmConcurrency = gated ? options.concurrency : undefined;
    try {
      return await this.runUnits(items, {
        ...each,
        concurrency: gated ? llmUnitsInFlight(options.concurrency, llmCalls) : each.concurrency,
      });
    } finally {
      this.llmConcurrency = undefined;
    }
  }

  /**
   * How many items one unit of an LLM-bound fan-out carries at `concurrency` (LLM_CALLS_GATED_BY_WORKER): one per ten
   * calls allowed, at most ten, so several from 20 on; one for runs before it. A unit is an activity, and its
   * scheduling, heartbeats and history cost the server and worker about as much CPU as an item's own queries: at 50
   * calls in flight on two cores that is the difference between keeping the calls' slots full and not.
   */
  llmItemsPerUnit(concurrency: number): number {
    return this.llmCallsGated ? Math.min(Math.max(Math.floor(concurrency / 10), 1), ITEMS_PER_LLM_UNIT_MAX) : 1;
  }

  private runUnits<T>(
    items: readonly T[],
    options: Omit<EachOptions<T>, 'gate' | 'onStart' | 'onDone' | 'onPauseNow' | 'shouldYield'>,
  ): Promise<T[]> {
    return runEach(items, {
      ...options,
      gate: () => condition(() => !this.paused),
      lean: this.leanFanOut,
      wakeOnEnd: this.leanFanOut && this.snapshotsPaced,
      shouldYield: () => this.historyIsFull(),
      onStart: (label) => {
        this.inFlight++;
        this.message = `Analyzing ${label}`;
        this.touch();
      },
      onDone: (weight, outcome) => {
        this.inFlight--;
        if (outcome === undefined) return this.touch(); // interrupted by pause-now or a pause: will run again
        const failed = typeof outcome === 'boolean' ? (outcome ? 0 : weight) : Math.min(outcome.failed, weight);
        this.completed += weight - failed;
        this.failed += failed;
        if (weight - failed > 0) countSteps(this.jobType, 'done', weight - failed);
        if (failed > 0) countSteps(this.jobType, 'failed', failed);
        this.touch();
      },
      onPauseNow: (listener) => {
        this.pauseNowListeners.add(listener);
        return () => this.pauseNowListeners.delete(listener);
      },
    });
  }

  /**
   * True once this run should start no further unit: the server suggests continuing as new, or our own budget would
   * be spent by the units already in flight and the run's closing events (HISTORY_ROOM_FOR_IN_FLIGHT). With nothing
   * in flight a unit may still start below the budget, so every run makes progress however small its budget. Once
   * full it stays full: otherwise each unit that drains frees its reserve for a new one, and the run trickles on with
   * fewer and fewer in flight up to the budget itself.
   */
  historyIsFull(): boolean {
    if (this.historyFull) return true;
    const info = workflowInfo();
    const reserved =
      this.inFlight > 0 && (this.roomForInFlightFromStart || patched(HISTORY_ROOM_FOR_IN_FLIGHT))
        ? this.inFlight * EVENTS_PER_UNIT_IN_FLIGHT + CLOSING_EVENTS
        : 0;
    this.historyFull = info.continueAsNewSuggested || info.historyLength + reserved >= this.historyEventBudget;
    return this.historyFull;
  }

  /**
   * The state a continued run needs to go on seamlessly; pass it as `carried` in the next run's input.
   * Waits for the jobs-table snapshot under way so rows never go backwards across runs.
   */
  async carryOver(): Promise<CarriedControl> {
    if (this.activeSince !== null) this.activeMs += Date.now() - this.activeSince;
    this.activeSince = this.paused ? null : Date.now();
    await this.settleSnapshots();
    return {
      completed: this.completed,
      failed: this.failed,
      paused: this.paused,
      priority: this.priority,
      startedAt: this.startedAt ?? Date.now(),
      activeMs: this.activeMs,
      currentStep: this.currentStep,
      runs: (this.carried?.runs ?? 1) + 1,
      revision: this.revision,
    };
  }

  /** Sets the job's size once its body has found it out (e.g. how many chunks its documents split into). */
  setTotalSteps(total: number): void {
    this.totalSteps = total;
    this.touch(true);
  }

  /** Counts steps that need no work (e.g. rule execution for attributes that got no rules). */
  skipSteps(count: number): void {
    this.completed += count;
    countSteps(this.jobType, 'done', count);
    this.touch();
  }

  progress(): JobProgress {
    const done = this.completed + this.failed;
    const activeMs = this.activeMs + (this.activeSince === null ? 0 : Date.now() - this.activeSince);
    const rate = done > 0 && activeMs > 0 ? done / activeMs : 0;
    return {
      jobId: this.jobId,
      jobType: this.jobType,
      status: this.status,
      progressPercentage: this.totalSteps > 0 ? Math.floor((done / this.totalSteps) * 100) : 0,
      completedSteps: done,
      totalSteps: this.totalSteps,
      failedSteps: this.failed,
      inFlight: this.inFlight,
      currentStep:
        this.status === 'paused' ? `Paused: ${this.currentStep}` : `${this.currentStep}: ${done} of ${this.totalSteps}`,
      message: this.message,
      startedAt: this.startedAt === null ? null : new Date(this.startedAt).toISOString(),
      updatedAt: new Date().toISOString(),
      etaSeconds: rate > 0 ? Math.round((this.totalSteps - done) / rate / 1000) : null,
      priority: this.priority,
      revision: this.revision,
    };
  }

  /** Applies a pause the caller has checked with refusalOf. */
  private pause(request: PauseRequest): void {
    this.paused = true;
    if (this.activeSince !== null) this.activeMs += Date.now() - this.activeSince;
    this.activeSince = null;
    this.setStatus('paused');
    if (request.now) for (const interrupt of this.pauseNowListeners) interrupt();
  }

  /** Applies a priority (1-5) the caller has checked with refusalOf. */
  private setPriority(priority: number): void {
    this.priority = priority;
    this.priorityChanged = true;
    upsertSearchAttributes([{ key: JobPriorityKey, value: priority }]);
    this.touch(true);
  }

  /** Applies a resume the caller has checked with refusalOf. */
  private resume(): void {
    this.paused = false;
    this.activeSince = Date.now();
    this.setStatus('running');
  }

  private setStatus(status: JobStatus): void {
    this.status = status;
    upsertSearchAttributes([{ key: JobStatusKey, value: status }]);
    this.touch(true);
  }

  /**
   * Marks progress as changed; the jobs-table snapshot follows on status changes and every ~2 % of steps (no sooner
   * than SNAPSHOT_MIN_INTERVAL_MS after the last for steps, SNAPSHOTS_PACED: keepJobRecordCurrent).
   */
  private touch(snapshotNow = false): void {
    this.revision++;
    const steps = this.completed + this.failed;
    if (
      snapshotNow ||
      steps - this.stepsAtLastSnapshot >= Math.max(1, Math.ceil(this.totalSteps / SNAPSHOTS_PER_JOB))
    ) {
      this.stepsAtLastSnapshot = steps;
      this.changes++;
      if (snapshotNow) this.snapshotDue = true;
    }
    const p = this.progress();
    setCurrentDetails(
      `**${p.status}** · ${p.currentStep} (${p.progressPercentage}%) · ${p.failedSteps} failed · ${p.message}`,
    );
  }

  /**
   * One writer, in order: snapshots never overtake each other, and the final state is written last. SNAPSHOTS_PACED:
   * a snapshot of steps waits until SNAPSHOT_MIN_INTERVAL_MS after the one before (a status change does not), with
   * a timer only while one waits.
   */
  private async keepJobRecordCurrent(): Promise<void> {
    for (;;) {
      await condition(() => this.changes !== this.persistedChanges);
      if (this.snapshotsPaced) {
        const waitMs = this.lastSnapshotAt + SNAPSHOT_MIN_INTERVAL_MS - Date.now();
        if (!this.snapshotDue && waitMs > 0) await condition(() => this.snapshotDue, waitMs);
        // The run is ending: its final write (or the next run's first) carries this change.
        if (this.writerClosed) return;
        // A status change's snapshot does not start the interval: the steps' first snapshot after it is not delayed.
        if (!this.snapshotDue) this.lastSnapshotAt = Date.now();
        this.snapshotDue = false;
        this.writing = true;
      }
      const target = this.changes;
      await recordJobState({ jobId: this.jobId, status: this.status, progress: this.progress() });
      this.writing = false;
      this.persistedChanges = target;
    }
  }

  /**
   * Waits for the jobs-table writes under way, so that what follows (the final state, or the next run's first
   * snapshot) is written after them. SNAPSHOTS_PACED: only a write already asked for; a snapshot still waiting for its
   * interval is dropped, since what follows carries it, and the writer stops.
   */
  private async settleSnapshots(): Promise<void> {
    if (!this.snapshotsPaced) return condition(() => this.changes === this.persistedChanges);
    this.writerClosed = true;
    this.snapshotDue = true; // wakes a writer waiting for its interval, which then sees the run ending
    await condition(() => !this.writing);
  }

  private async finish(status: JobStatus, error: string | null, result?: JobResult): Promise<void> {
    if (this.activeSince !== null) this.activeMs += Date.now() - this.activeSince;
    this.activeSince = null;
    this.status = status;
    metricMeter
      .createCounter('synapse_jobs_finished', 'jobs', 'Jobs that ended, by type and final status')
      .add(1, { job_type: this.jobType, status });
    // The last "Analyzing …" would read as if the job were still at it.
    this.message =
      status === 'completed'
        ? `Finished: ${this.completed} done, ${this.failed} failed`
        : status === 'cancelled'
          ? 'Cancelled'
          : 'Failed';
    upsertSearchAttributes([{ key: JobStatusKey, value: status }]);
    // SNAPSHOTS_PACED: no snapshot of the ending status before the final write (it would show the status without its
    // error or result); before it, the step that ended the job could ask for one.
    if (this.snapshotsPaced) this.writerClosed = true;
    this.touch();
    // Wait for snapshots already under way so that this final write is the last one.
    await this.settleSnapshots();
    this.changes = this.persistedChanges; // nothing further for the background writer
    await recordJobState({ jobId: this.jobId, status, progress: this.progress(), result, error });
    if (this.callbackUrl !== undefined && this.callbacksOn) await this.callBack(this.callbackUrl);
  }

  /**
   * POSTs the outcome to the job's callback URL (retried by CALLBACK_ACTIVITY), even when the job was cancelled; a
   * callback that is never accepted is logged and recorded in job_callbacks, and the job's final state stands.
   */
  private async callBack(url: string): Promise<void> {
    const { deliverJobCallback } = proxyActivities<JobActivities>(CALLBACK_ACTIVITY);
    try {
      await CancellationScope.nonCancellable(() => deliverJobCallback({ jobId: this.jobId, url }));
    } catch (error) {
      log.warn('completion callback not delivered', { jobId: this.jobId, error: describeError(error) });
    }
  }
}

/**
 * Steps of work finished, on the worker's metrics endpoint by job type (never job id: one series per job
 * would swamp Prometheus). The SDK emits nothing while replaying, so a step is counted once.
 */
function countSteps(jobType: string, outcome: 'done' | 'failed', count: number): void {
  metricMeter
    .createCounter(`synapse_job_steps_${outcome}`, 'steps', `Job steps ${outcome === 'done' ? 'completed' : 'failed'}`)
    .add(count, { job_type: jobType });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when `value` is an object whose every key is one of `fields` and passes its check (absent keys pass). */
function hasOnly(value: unknown, fields: Record<string, (field: unknown) => boolean>): boolean {
  return (
    isRecord(value) &&
    Object.entries(value).every(
      ([key, field]) => Object.hasOwn(fields, key) && (field === undefined || fields[key]!(field)),
    )
  );
}

function isPriority(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 5;
}

/**
 * A job's error line when some of its items failed ("3 of 40 attributes failed: a (why); …", five named); null when
 * none did.
 */
export function failureSummary(failed: number, total: number, what: string, named: string[]): string | null {
  return failed === 0
    ? null
    : `${failed} of ${total} ${what}: ${named.slice(0, 5).join('; ')}${failed > 5 ? '; …' : ''}`;
}

/**
 * An argument that is a resolved input, not a start request: a continued run's (carrying the control state of the
 * run before), or one a client from before ADMITTED_START resolved (with `jobId` and `historyEventBudget`, which a
 * start request never has: its schema refuses them).
 */
function isResolvedInput<I extends JobInputBase>(start: JobStart<I> | undefined): start is I {
  if (typeof start !== 'object' || start === null) return false;
  if ('carried' in start && start.carried !== undefined) return true;
  return typeof start.jobId === 'string' && typeof start.historyEventBudget === 'number';
}

/**
 * The admission's refusal as the workflow's own failure, with its type, message and details (the fields at fault),
 * so `temporal workflow describe`, the Web UI and every SDK show why; anything else as it came.
 */
function admissionFailure(error: unknown): unknown {
  const cause = error instanceof ActivityFailure ? error.cause : undefined;
  if (!(cause instanceof ApplicationFailure)) return error;
  return ApplicationFailure.create({
    message: cause.message,
    type: cause.type ?? undefined,
    nonRetryable: true,
    details: cause.details ? [...cause.details] : undefined,
  });
}

export function describeError(error: unknown): string {
  let current: unknown = error;
  // ActivityFailure wraps the activity's own ApplicationFailure: the cause is what a person needs to read.
  while (current instanceof Error && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(error);
}
