/**
 * What a mksysbToTape run tells the world about itself while it runs: the `progress` query, the current details in
 * the Temporal UI, the MksysbStage and MksysbOutcome search attributes, and the seconds each stage took.
 */
import { setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { RunPlan } from '../activities';
import { progressQuery, RELAY_CLIENT, type BackupProgress, type Outcome, type StageName, type TransferResult } from '../shared/contract';
import { formatBytes } from '../shared/format';
import { stageFailedText } from '../shared/stages';
import { SA_OUTCOME, SA_SOURCE, SA_STAGE, SA_TAPE_DEVICE, SA_TAPE_HOST } from '../shared/search-attributes';
import { RECORDS } from '../tape/layout';

export class RunStatus {
  readonly progress: BackupProgress;
  /** Seconds per stage, wall-clock as the workflow saw it. */
  readonly durations: Partial<Record<StageName, number>> = {};
  /** Every move of an image to the tape host, in order: how (direct or relayed) and from where it resumed. */
  readonly transfers: TransferResult[] = [];
  /** The validated backup, once the first activity returned it. */
  plan: RunPlan | undefined;

  constructor(backupId: string) {
    this.progress = {
      backupId,
      stage: 'validating',
      outcome: 'running',
      attempt: 1,
      activity: 'validating the input against the inventory',
      recordsWritten: [],
    };
    setHandler(progressQuery, () => this.progress);
  }

  /** The backup is valid: its hosts and drive become searchable. */
  validated(plan: RunPlan): void {
    this.plan = plan;
    const { backup } = plan;
    this.progress.backupId = backup.backupId;
    upsertSearchAttributes([
      { key: SA_SOURCE, value: backup.source },
      { key: SA_TAPE_HOST, value: backup.tape.host },
      { key: SA_TAPE_DEVICE, value: backup.tape.device },
      { key: SA_OUTCOME, value: 'running' },
    ]);
  }

  /** The run enters `stage` (or goes on in it) doing `activity`; the byte figures and record start afresh. */
  show(stage: StageName, activity: string, extra: Partial<BackupProgress> = {}): void {
    if (this.progress.stage !== stage) {
      upsertSearchAttributes([{ key: SA_STAGE, value: stage }]);
    }
    Object.assign(this.progress, { stage, activity, bytesDone: undefined, bytesTotal: undefined, record: undefined }, extra);
    this.refresh();
  }

  setOutcome(outcome: Outcome): void {
    this.progress.outcome = outcome;
    upsertSearchAttributes([{ key: SA_OUTCOME, value: outcome }]);
  }

  /**
   * The run was cancelled: outcome `cancelled`, and details that say where; a wait for an operator ends with it. The
   * running step's activities have ended by now (they wait for their remote commands to stop).
   */
  cancelled(): void {
    const { progress } = this;
    const { waiting } = progress;
    progress.waiting = undefined;
    this.setOutcome('cancelled');
    if (waiting?.for === 'cartridge') {
      progress.activity = `cancelled while the run waited for cartridge ${waiting.volume ?? ''}; nothing was running on the hosts`;
    } else if (waiting) {
      progress.activity = `cancelled while the run waited for an operator after ${stageFailedText(waiting.stage, waiting.record)} failed; nothing was running on the hosts`;
    } else if (progress.stage === 'validating') {
      progress.activity = 'cancelled during validation, before any command ran on the hosts';
    } else {
      progress.activity = `cancelled during ${stageFailedText(progress.stage, progress.record)} (it was: ${progress.activity}); any command it ran on the hosts was stopped`;
    }
    if (this.plan && progress.stage !== 'validating') progress.activity += '; the staged files were kept';
    this.refresh();
  }

  /** One more move of an image, for the result and the details. */
  moved(transfer: TransferResult): void {
    this.transfers.push(transfer);
    this.refresh();
  }

  refresh(): void {
    setCurrentDetails(this.details());
  }

  /** Runs fn and adds its wall-clock time to the stage's. */
  async timed<T>(stage: StageName, fn: () => Promise<T>): Promise<T> {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      this.durations[stage] = (this.durations[stage] ?? 0) + (Date.now() - t0) / 1000;
    }
  }

  private details(): string {
    const { progress, plan, transfers } = this;
    const lines = [`**${progress.outcome}** — ${progress.activity}`];
    if (plan) lines.push(`source ${plan.backup.source} → ${plan.backup.tape.host}:${plan.backup.tape.device}, backup ${plan.backup.backupId}`);
    if (transfers.length) lines.push(`images moved: ${transfers.map(transferText).join('; ')}`);
    if (progress.recordsWritten.length) lines.push(`records written: ${progress.recordsWritten.join(', ')}`);
    if (progress.waiting?.for === 'cartridge') {
      lines.push(
        `waiting until ${progress.waiting.until}: ${progress.waiting.reason}`,
        `load the cartridge, then send signal \`volumeLoaded\` with {} (or {"volume": ${progress.waiting.volume ?? 'N'}}), or \`abort\` with {"reason": "..."} to stop`,
      );
    } else if (progress.waiting) {
      lines.push(
        `waiting for an operator until ${progress.waiting.until}: ${progress.waiting.reason}`,
        'send signal `retry` with {} (or {"fromRecord": N}) to try again, or `abort` with {"reason": "..."} to stop',
      );
    } else if (progress.lastError) lines.push(`last error: ${progress.lastError}`);
    return lines.join('\n\n');
  }
}

/** One move in the current details: `mksysb image pulled by the tape host (resumed at 10.0 MiB)`, `boot image relayed (...)`. */
function transferText(t: TransferResult): string {
  const how = t.mode === 'direct' ? 'pulled by the tape host' : `relayed${t.relayedBy ? ` (${RELAY_CLIENT[t.relayedBy]})` : ''}`;
  const notes = [
    t.followed ? 'while mksysb wrote it' : '',
    t.alreadyThere ? 'already there' : '',
    t.resumedFrom > 0 && !t.alreadyThere ? `resumed at ${formatBytes(t.resumedFrom)}` : '',
    t.directFailed !== undefined ? `direct pull failed: ${t.directFailed}` : '',
  ].filter(Boolean);
  return `${RECORDS[t.record - 1]!.name} ${how}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}
