// One answer per job shared by every status request: a frontend polling a job from many tabs (or many
// analysts watching one job) would otherwise send Temporal one query or describe per request.

/**
 * Within `freshMs` requests share one answer (one call in flight per key); for `staleMs` after that the last
 * answer is served while one call refreshes it, so only a key's first request ever waits. An undefined
 * answer (the dependency did not answer) is never served stale.
 */
export class SharedAnswers<T> {
  private readonly entries = new Map<
    string,
    { at: number; answer: Promise<T | undefined>; last?: T; refreshing: boolean }
  >();

  constructor(
    /** Resolves undefined, never rejects, when the dependency does not answer. */
    private readonly fetch: (key: string) => Promise<T | undefined>,
    private readonly freshMs: number,
    private readonly staleMs: number,
  ) {}

  get(key: string): Promise<T | undefined> {
    const now = Date.now();
    const entry = this.entries.get(key);
    if (entry && now - entry.at < this.freshMs) return entry.answer;
    if (entry?.last !== undefined && now - entry.at < this.freshMs + this.staleMs) {
      if (!entry.refreshing) {
        entry.refreshing = true;
        void this.fetch(key).then((answer) => this.remember(key, Date.now(), Promise.resolve(answer), answer));
      }
      return Promise.resolve(entry.last);
    }
    const answer = this.fetch(key);
    this.remember(key, now, answer);
    void answer.then((value) => {
      const current = this.entries.get(key);
      if (current?.answer === answer) current.last = value;
    });
    return answer;
  }

  /** Drops the key's answer: the next request asks again (a control decision needs the state now). */
  forget(key: string): void {
    this.entries.delete(key);
  }

  /** Takes an answer obtained otherwise (a control update's progress) as the key's fresh one. */
  offer(key: string, answer: T): void {
    this.remember(key, Date.now(), Promise.resolve(answer), answer);
  }

  private remember(key: string, at: number, answer: Promise<T | undefined>, last?: T): void {
    this.entries.set(key, { at, answer, last, refreshing: false });
    // Bounded: entries past any use are dropped once there are many.
    if (this.entries.size > 1_000) {
      for (const [id, entry] of this.entries) if (at - entry.at >= this.freshMs + this.staleMs) this.entries.delete(id);
    }
  }
}
