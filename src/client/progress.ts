/**
 * Live progress of a backup for `start --wait` and `watch`: one cli-progress bar per stage and record on a terminal,
 * plain lines (a line per step started, per quarter done, per step finished) when the output is a file or a pipe.
 */
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { BackupStatus, MksysbTapeClient } from './backups';
import { formatBytes, formatDuration, stepsOf, stepLine, waitingLines, type StepFigures } from './format';

export interface ProgressView {
  update(status: BackupStatus): void;
  /** A line above the bars (or a plain line). */
  note(text: string): void;
  stop(): void;
}

/** Events common to both views: waiting for an operator, errors, stage text changes. */
class Notes {
  private lastWaiting?: string;
  private lastActivity?: string;
  private lastError?: string;
  constructor(private readonly note: (t: string) => void) {}
  update(s: BackupStatus): void {
    const p = s.progress;
    if (!p) return;
    if (p.activity !== this.lastActivity) {
      this.lastActivity = p.activity;
      this.note(`· ${p.activity}`);
    }
    if (p.lastError && p.lastError !== this.lastError && !p.waiting) {
      this.lastError = p.lastError;
      this.note(`  error: ${p.lastError}`);
    }
    const w = p.waiting ? `${p.waiting.stage}:${p.waiting.record ?? ''}:${p.waiting.reason}` : undefined;
    if (w && w !== this.lastWaiting) {
      this.note(waitingLines(s.workflowId, p.waiting!).join('\n  '));
    }
    this.lastWaiting = w;
  }
}

class BarsView implements ProgressView {
  private readonly multi: MultiBar;
  private readonly bars = new Map<string, { bar: SingleBar; last: StepFigures }>();
  private readonly notes = new Notes((t) => this.multi.log(`${t}\n`));

  constructor(stream: NodeJS.WritableStream) {
    this.multi = new MultiBar(
      {
        stream,
        format: '{label} |{bar}| {percentage}% {figs}',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
        barsize: 30,
      },
      Presets.shades_classic,
    );
  }

  note(text: string): void {
    this.multi.log(`${text}\n`);
  }

  update(s: BackupStatus): void {
    this.notes.update(s);
    const steps = stepsOf(s);
    const seen = new Set<string>();
    for (const st of steps) {
      seen.add(st.key);
      const total = st.bytesTotal && st.bytesDone !== undefined ? st.bytesTotal : 1;
      const value = st.bytesTotal && st.bytesDone !== undefined ? st.bytesDone : 0;
      const payload = { label: st.label.padEnd(15), figs: figsOf(st) };
      const b = this.bars.get(st.key);
      if (!b) this.bars.set(st.key, { bar: this.multi.create(total, value, payload), last: st });
      else {
        b.bar.setTotal(total);
        b.bar.update(value, payload);
        b.last = st;
      }
    }
    const closed = s.status !== 'RUNNING';
    for (const [key, b] of this.bars) {
      if (seen.has(key) || (b.bar as unknown as { __done?: boolean }).__done) continue;
      // The step is no longer running: it finished (or the run ended).
      const total = b.last.bytesTotal && b.last.bytesDone !== undefined ? b.last.bytesTotal : 1;
      const failed = closed && s.status !== 'COMPLETED';
      b.bar.setTotal(total);
      b.bar.update(failed ? b.bar.getProgress() * total : total, {
        label: b.last.label.padEnd(15),
        figs: failed ? 'stopped' : `done${b.last.bytesTotal ? `, ${formatBytes(b.last.bytesTotal)}` : ''}`,
      });
      (b.bar as unknown as { __done?: boolean }).__done = true;
    }
  }

  stop(): void {
    this.multi.stop();
  }
}

function figsOf(st: StepFigures): string {
  const parts: string[] = [];
  if (st.bytesTotal && st.bytesDone !== undefined) parts.push(`${formatBytes(st.bytesDone)} / ${formatBytes(st.bytesTotal)}`);
  else if (st.bytesTotal) parts.push(formatBytes(st.bytesTotal));
  if (st.elapsedMs !== undefined) parts.push(formatDuration(st.elapsedMs / 1000));
  if (st.attempt && st.attempt > 1) parts.push(`attempt ${st.attempt}`);
  return parts.join(', ');
}

class LinesView implements ProgressView {
  private readonly steps = new Map<string, { last: StepFigures; quarter: number; done: boolean }>();
  private readonly notes: Notes;
  constructor(private readonly out: NodeJS.WritableStream) {
    this.notes = new Notes((t) => this.note(t));
  }

  note(text: string): void {
    this.out.write(`${text}\n`);
  }

  update(s: BackupStatus): void {
    this.notes.update(s);
    const seen = new Set<string>();
    for (const st of stepsOf(s)) {
      seen.add(st.key);
      const quarter = st.bytesTotal && st.bytesDone !== undefined ? Math.floor((4 * st.bytesDone) / st.bytesTotal) : 0;
      const prev = this.steps.get(st.key);
      if (!prev || prev.done) {
        this.note(`  ${stepLine(st)}`);
        this.steps.set(st.key, { last: st, quarter, done: false });
      } else {
        if (quarter > prev.quarter) this.note(`  ${stepLine(st)}`);
        prev.last = st;
        prev.quarter = Math.max(prev.quarter, quarter);
      }
    }
    const failed = s.status !== 'RUNNING' && s.status !== 'COMPLETED';
    for (const [key, v] of this.steps) {
      if (seen.has(key) || v.done) continue;
      v.done = true;
      this.note(`  ${v.last.label}  ${failed ? 'stopped' : `done${v.last.bytesTotal ? `, ${formatBytes(v.last.bytesTotal)}` : ''}`}`);
    }
  }

  stop(): void {}
}

/** Bars on a terminal, lines otherwise. */
export function createProgressView(stream: NodeJS.WriteStream, opts: { bars?: boolean } = {}): ProgressView {
  return (opts.bars ?? stream.isTTY) ? new BarsView(stream) : new LinesView(stream);
}

/** Polls the run until it closes, feeding the view; returns the final status. */
export async function follow(
  api: MksysbTapeClient,
  workflowId: string,
  runId: string | undefined,
  view: ProgressView | undefined,
  intervalMs = 500,
): Promise<BackupStatus> {
  for (;;) {
    const s = await api.status(workflowId, runId);
    view?.update(s);
    if (s.status !== 'RUNNING') return s;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
