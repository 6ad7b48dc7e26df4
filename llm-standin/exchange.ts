// One HTTP request/response pair as the stand-in sees it: whether the client is still there, waiting
// that stops when it leaves, and sending JSON. Knowing the client left is what proves cancellation works.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallRecord } from './call-log';

export class Exchange {
  /** Set once the request is logged, so a disconnect can be written onto it. */
  record?: CallRecord;
  private clientGone = false;
  private readonly onGone = new Set<() => void>();

  constructor(
    private readonly res: ServerResponse,
    private readonly serverClosing: () => boolean,
  ) {
    // The response's 'close' is the reliable signal: IncomingMessage 'close' also fires once the body is
    // read, but the response closes before end() only when the connection dropped under it.
    res.on('close', () => {
      if (res.writableEnded) return;
      this.clientGone = true;
      if (this.record && !this.serverClosing()) {
        this.record.outcome = 'client_aborted';
        this.record.finishedAt = Date.now();
      }
      for (const callback of this.onGone) callback();
      this.onGone.clear();
    });
  }

  get gone(): boolean {
    return this.clientGone;
  }

  /** Calls `callback` once the client goes away (at once if it already has). */
  onceGone(callback: () => void): void {
    if (this.clientGone) return callback();
    this.onGone.add(callback);
  }

  /** Resolves true after `ms`, or false as soon as the client goes away. */
  sleep(ms: number): Promise<boolean> {
    if (this.clientGone) return Promise.resolve(false);
    if (ms <= 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const stop = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.onGone.delete(stop);
        resolve(true);
      }, ms);
      this.onGone.add(stop);
    });
  }

  sendJson(status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (this.clientGone || this.res.writableEnded) return;
    const text = JSON.stringify(body);
    if (this.record) {
      this.record.status = status;
      this.record.finishedAt = Date.now();
    }
    this.res.writeHead(status, {
      ...headers,
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    this.res.end(text);
  }

  sendEmpty(status: number): void {
    if (this.clientGone || this.res.writableEnded) return;
    this.res.writeHead(status);
    this.res.end();
  }
}

/** Reads the whole request body; rejects if the client disconnects before sending it all. */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('client disconnected while sending the request'));
    });
  });
}
