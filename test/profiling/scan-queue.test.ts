// The worker's queue of column-profile scans (activities/data-sources/scan-queue.ts), a pure class tested alone: never
// more than its limit at once, turns in the order asked, a place handed on when a scan ends or fails, heartbeats while
// waiting, and a wait given up on abort without ever running its scan.

import { ScanQueue, type ScanTurn } from '../../activities/data-sources/scan-queue';

function turn(signal = new AbortController().signal, heartbeat: () => void = () => undefined): ScanTurn {
  return { signal, heartbeat, heartbeatMs: 10 };
}

/** A scan that runs until `finish` is called, recording when it started. */
function heldScan(started: number[], id: number) {
  let finish!: (value: number) => void;
  let fail!: (error: Error) => void;
  const done = new Promise<number>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    scan: () => {
      started.push(id);
      return done;
    },
    finish: () => finish(id),
    fail: (error: Error) => fail(error),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('ScanQueue', () => {
  it('runs at most its limit at once and gives the places out in the order asked', async () => {
    const queue = new ScanQueue(2);
    const started: number[] = [];
    const scans = [0, 1, 2, 3, 4].map((id) => heldScan(started, id));
    const results = scans.map((s) => queue.run(s.scan, turn()));
    await settle();
    expect(started).toEqual([0, 1]);
    expect(queue.load).toEqual({ running: 2, waiting: 3 });

    scans[1]!.finish();
    await settle();
    expect(started).toEqual([0, 1, 2]);
    scans[0]!.finish();
    await settle();
    expect(started).toEqual([0, 1, 2, 3]);
    expect(queue.load).toEqual({ running: 2, waiting: 1 });

    for (const s of scans.slice(2)) s.finish();
    await expect(Promise.all(results)).resolves.toEqual([0, 1, 2, 3, 4]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(queue.load).toEqual({ running: 0, waiting: 0 });
  });

  it('hands a failed scan’s place on, and passes its error to its caller', async () => {
    const queue = new ScanQueue(1);
    const started: number[] = [];
    const [first, second] = [heldScan(started, 0), heldScan(started, 1)];
    const failing = queue.run(first.scan, turn());
    const next = queue.run(second.scan, turn());
    first.fail(new Error('relation does not exist'));
    await expect(failing).rejects.toThrow('relation does not exist');
    await settle();
    expect(started).toEqual([0, 1]);
    second.finish();
    await expect(next).resolves.toBe(1);
    expect(queue.load).toEqual({ running: 0, waiting: 0 });
  });

  it('heartbeats while waiting, and not once the scan runs', async () => {
    const queue = new ScanQueue(1);
    const started: number[] = [];
    const [first, second] = [heldScan(started, 0), heldScan(started, 1)];
    let beats = 0;
    const running = queue.run(
      first.scan,
      turn(undefined, () => void beats++),
    );
    const waiting = queue.run(
      second.scan,
      turn(undefined, () => void beats++),
    );
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(beats).toBeGreaterThanOrEqual(3); // every 10 ms, from the waiting scan alone
    first.finish();
    await running;
    await settle();
    const atTurn = beats;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(beats).toBe(atTurn);
    second.finish();
    await waiting;
  });

  it('gives up a wait on abort: its scan never runs, and the next one takes the place', async () => {
    const queue = new ScanQueue(1);
    const started: number[] = [];
    const scans = [0, 1, 2].map((id) => heldScan(started, id));
    const cancel = new AbortController();
    const results = [
      queue.run(scans[0]!.scan, turn()),
      queue.run(scans[1]!.scan, turn(cancel.signal)),
      queue.run(scans[2]!.scan, turn()),
    ];
    cancel.abort(new Error('activity cancelled'));
    await expect(results[1]).rejects.toThrow('activity cancelled');
    expect(queue.load).toEqual({ running: 1, waiting: 1 });
    scans[0]!.finish();
    await settle();
    expect(started).toEqual([0, 2]);
    scans[2]!.finish();
    await expect(Promise.all([results[0], results[2]])).resolves.toEqual([0, 2]);
  });

  it('refuses a scan whose signal is already aborted, and a limit below one', async () => {
    const queue = new ScanQueue(1);
    const cancel = new AbortController();
    cancel.abort(new Error('already cancelled'));
    const scan = jest.fn(async () => 1);
    await expect(queue.run(scan, turn(cancel.signal))).rejects.toThrow('already cancelled');
    expect(scan).not.toHaveBeenCalled();
    expect(queue.load).toEqual({ running: 0, waiting: 0 });
    expect(() => new ScanQueue(0)).toThrow(RangeError);
  });
});
