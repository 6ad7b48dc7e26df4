// A terminal progress bar for a job, redrawn in place on a TTY and as a line per change elsewhere (CI logs).

import type { JobProgress } from '../../common/progress';

const WIDTH = 30;

export function renderProgress(p: JobProgress): string {
  const filled = Math.round((p.progressPercentage / 100) * WIDTH);
  const bar = '█'.repeat(filled) + '░'.repeat(WIDTH - filled);
  const eta = p.etaSeconds === null || p.status !== 'running' ? '' : ` · ETA ${p.etaSeconds}s`;
  const failed = p.failedSteps > 0 ? ` · ${p.failedSteps} failed` : '';
  return `${bar} ${String(p.progressPercentage).padStart(3)}% ${p.status} · ${p.currentStep ?? ''}${failed}${eta}`;
}

export class ProgressBar {
  private lastLine = '';
  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  update(progress: JobProgress): void {
    const line = renderProgress(progress);
    if (line === this.lastLine) return;
    this.lastLine = line;
    if (this.out.isTTY) this.out.write(`\r\x1b[2K${line.slice(0, (this.out.columns ?? 120) - 1)}`);
    else this.out.write(`${line}\n`);
  }

  done(): void {
    if (this.out.isTTY && this.lastLine) this.out.write('\n');
  }
}
