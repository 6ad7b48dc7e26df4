// At most a set number of one kind of data-source scan at once on this worker, the others waiting their turn in the
// order they asked. An LLM job schedules its units ahead of its calls, so at its start every unit profiles its columns
// at once: on a database with few cores each of those scans then takes as long as all of them, and the job's first
// calls wait for the last profile. In turn, the first units' profiles are done first and their calls go out at once.

export interface ScanTurn {
  /** Giving up the wait: the scan never runs and `run` rejects with the signal's reason (e.g. a cancelled activity). */
  signal: AbortSignal;
  /** Called every `heartbeatMs` while waiting, so a long wait keeps its activity alive and hears of a cancel. */
  heartbeat: () => void;
  heartbeatMs: number;
}

export class ScanQueue {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`a scan queue needs a limit of 1 or more, not ${limit}`);
  }

  /** Scans running now, and waiting for a place. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Runs `scan` once one of the places is free (at once when one is), first come first served. */
  async run<T>(scan: () => Promise<T>, turn: ScanTurn): Promise<T> {
    await this.place(turn);
    try {
      return await scan();
    } finally {
      // The place goes straight to the first waiting scan; only with none waiting is it counted free.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private place(turn: ScanTurn): Promise<void> {
    turn.signal.throwIfAborted();
    if (this.running < this.limit) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const beat = setInterval(turn.heartbeat, turn.heartbeatMs);
      const settle = () => {
        clearInterval(beat);
        turn.signal.removeEventListener('abort', onAbort);
      };
      const granted = () => {
        settle();
        resolve();
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(granted);
        if (at >= 0) this.waiting.splice(at, 1);
        settle();
        reject(turn.signal.reason as Error);
      };
      turn.signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(granted);
    });
  }
}
