// Gates: hold matching chat calls at the stand-in until a test releases them. A control or fault test
// waits until N calls are held (an observable state), acts (pause, cancel, kill), then releases — so it
// never depends on the stand-in being slow enough for the action to land while the job still runs.

import { z } from 'zod';
import type { CallRecord } from './call-log';
import type { Exchange } from './exchange';

/** Which calls a gate holds; every field given must match. */
export interface GateMatch {
  /** Item keys (the prompt's `ITEM:` line), e.g. `demo_customers.email`. */
  items?: string[];
  /** Regular-expression source matched against the item key. */
  itemPattern?: string;
  /** The prompt's `TASK:` line. */
  task?: string;
  /** The job the call is made for (the `x-synapse-job-id` header the LLM activity sends). */
  jobId?: string;
  /** Hold only calls from this arrival number on (1-based, over every call the stand-in received). */
  fromCall?: number;
  /** Hold at most this many calls; later matching calls pass. */
  limit?: number;
}

export const gateMatchSchema = z.strictObject({
  items: z.array(z.string()).optional(),
  itemPattern: z
    .string()
    .refine((source) => {
      try {
        new RegExp(source);
        return true;
      } catch {
        return false;
      }
    }, 'itemPattern is not a valid regular expression')
    .optional(),
  task: z.string().optional(),
  jobId: z.string().optional(),
  fromCall: z.number().int().positive().optional(),
  limit: z.number().int().positive().optional(),
});

/** What a gate knows of an arriving call. */
export interface GateSubject {
  itemKey?: string;
  task?: string;
  jobId?: string;
  /** 1-based arrival number over every call. */
  callNumber: number;
}

export interface StandinGate {
  readonly id: string;
  /** Calls waiting at the gate now (a call whose client went away no longer counts). */
  held(): number;
  /** Calls the gate has ever held, released or aborted ones included. */
  heldTotal(): number;
  /** Calls whose client went away while held (e.g. the activity was cancelled). */
  aborted(): number;
  /** Resolves once `count` calls are held at once; rejects after `timeoutMs`, saying what it waited for. */
  waitUntilHeld(count: number, timeoutMs?: number): Promise<void>;
  /** Lets the `count` oldest held calls go on (all when omitted); the gate keeps holding new calls. */
  release(count?: number): void;
  /** Lets every held call go on and holds no more. */
  open(): void;
}

interface Waiting {
  exchange: Exchange;
  go: () => void;
}

class Gate implements StandinGate {
  private readonly waiting: Waiting[] = [];
  private total = 0;
  private abortedCount = 0;
  private isOpen = false;
  private readonly pattern: RegExp | undefined;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly id: string,
    private readonly match: GateMatch,
  ) {
    this.pattern = match.itemPattern === undefined ? undefined : new RegExp(match.itemPattern);
  }

  matches(subject: GateSubject): boolean {
    const m = this.match;
    if (this.isOpen) return false;
    if (m.limit !== undefined && this.total >= m.limit) return false;
    if (m.items && (subject.itemKey === undefined || !m.items.includes(subject.itemKey))) return false;
    if (this.pattern && (subject.itemKey === undefined || !this.pattern.test(subject.itemKey))) return false;
    if (m.task !== undefined && m.task !== subject.task) return false;
    if (m.jobId !== undefined && m.jobId !== subject.jobId) return false;
    if (m.fromCall !== undefined && subject.callNumber < m.fromCall) return false;
    return true;
  }

  /** Holds the call until released; resolves false if its client went away meanwhile. */
  hold(exchange: Exchange): Promise<boolean> {
    this.total++;
    return new Promise((resolve) => {
      const entry: Waiting = { exchange, go: () => resolve(!exchange.gone) };
      this.waiting.push(entry);
      exchange.onceGone(() => {
        const index = this.waiting.indexOf(entry);
        if (index < 0) return;
        this.waiting.splice(index, 1);
        this.abortedCount++;
        resolve(false);
        this.notify();
      });
      this.notify();
    });
  }

  held = () => this.waiting.length;
  heldTotal = () => this.total;
  aborted = () => this.abortedCount;

  waitUntilHeld(count: number, timeoutMs = 60_000): Promise<void> {
    if (this.waiting.length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.waiting.length < count) return;
        clearTimeout(timer);
        this.watchers.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(
          new Error(
            `stand-in gate ${this.id}: waited ${timeoutMs} ms for ${count} held calls; ${this.waiting.length} held now, ${this.total} ever, ${this.abortedCount} aborted`,
          ),
        );
      }, timeoutMs);
      this.watchers.add(check);
    });
  }

  release(count = Number.POSITIVE_INFINITY): void {
    for (const entry of this.waiting.splice(0, Math.min(count, this.waiting.length))) entry.go();
    this.notify();
  }

  open(): void {
    this.isOpen = true;
    this.release();
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}

/** Every gate of one stand-in; a call is held by the first open gate that matches it. */
export class Gates {
  private readonly gates = new Map<string, Gate>();
  private nextId = 1;

  add(match: GateMatch): StandinGate {
    const gate = new Gate(`gate-${this.nextId++}`, gateMatchSchema.parse(match));
    this.gates.set(gate.id, gate);
    return gate;
  }

  get(id: string): StandinGate | undefined {
    return this.gates.get(id);
  }

  /** Resolves true when the call may go on (at once, or once released), false if its client left while held. */
  pass(subject: GateSubject, exchange: Exchange, record: CallRecord): Promise<boolean> {
    for (const gate of this.gates.values()) {
      if (!gate.matches(subject)) continue;
      record.held = true;
      return gate.hold(exchange);
    }
    return Promise.resolve(true);
  }

  /** Opens and forgets every gate, so nothing a test held outlives it. */
  clear(): void {
    for (const gate of this.gates.values()) gate.open();
    this.gates.clear();
  }
}
