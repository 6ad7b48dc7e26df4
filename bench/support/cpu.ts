// Where a benchmark's CPU went while it ran: this process's CPU time (the worker, when the benchmark hosts it), how long
// its main thread stood runnable without a core (Linux's /proc schedstat: the event-loop latency no JavaScript explains),
// and how busy the whole machine was. On a 2-core machine running the database, the Temporal server, the stand-in and
// the worker, an LLM slot's hand-off waits for the worker's main thread to be given a core as much as for its own work.

import { readFileSync } from 'node:fs';

export interface CpuUse {
  /** CPU time of this process, every thread (main, workflow threads, GC, the SDK's core), ms. */
  processMs: number;
  /** CPU time of the main thread alone, ms (undefined where /proc is not). */
  mainThreadMs?: number;
  /** Time the main thread was runnable but waiting for a core, ms (undefined where /proc is not). */
  mainThreadWaitingMs?: number;
  /** Share of the machine's CPU time (every core) that was busy, 0-1 (undefined where /proc is not). */
  machineBusy?: number;
}

/** Starts measuring; the returned function gives what was used since. */
export function cpuMeter(): () => CpuUse {
  const process0 = process.cpuUsage();
  const thread0 = mainThreadSchedstat();
  const machine0 = machineTicks();
  return () => {
    const used = process.cpuUsage(process0);
    const thread1 = mainThreadSchedstat();
    const machine1 = machineTicks();
    return {
      processMs: (used.user + used.system) / 1_000,
      ...(thread0 && thread1
        ? {
            mainThreadMs: (thread1.runNs - thread0.runNs) / 1e6,
            mainThreadWaitingMs: (thread1.waitNs - thread0.waitNs) / 1e6,
          }
        : {}),
      ...(machine0 && machine1
        ? { machineBusy: 1 - (machine1.idle - machine0.idle) / Math.max(1, machine1.total - machine0.total) }
        : {}),
    };
  };
}

/** The main thread's (its id is the process id) time on a core and time waiting for one, ns. */
function mainThreadSchedstat(): { runNs: number; waitNs: number } | undefined {
  try {
    const [run, wait] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    return run === undefined || wait === undefined ? undefined : { runNs: run, waitNs: wait };
  } catch {
    return undefined;
  }
}

/** Every core's ticks, and the idle ones (idle and iowait), from the first line of /proc/stat. */
function machineTicks(): { total: number; idle: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), idle: fields[3]! + fields[4]! };
  } catch {
    return undefined;
  }
}
