/**
 * What a backup run is started with and how it is found again: its workflow ID, its validated input, the summary,
 * details and search attributes it starts with, the visibility query of `list` and a list entry.
 */
import { hostname, userInfo } from 'node:os';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import type { TypedSearchAttributes } from '@temporalio/common';
import { parseBackupInput, type ResolvedBackup } from '../../schema';
import { WORKFLOW_TYPE, backupIdFromWorkflowId, defaultWorkflowId, type BackupInput } from '../../shared/contract';
import { SA_OUTCOME, SA_SOURCE, SA_STAGE, SA_TAPE_DEVICE, SA_TAPE_HOST } from '../../shared/search-attributes';
import type { BackupSummary, ListFilter, StartBackupOptions } from './types';

/** Static summary shown on each run in the Web UI. */
export function backupSummary(source: string, tape: { host: string; device: string }): string {
  return `mksysb of ${source} to ${tape.host}:${tape.device}`;
}

/** Static details (Temporal markdown) shown on each run in the Web UI. */
export function backupDetails(resolved: ResolvedBackup, input: BackupInput, note?: string): string {
  const lines = [
    `**Bootable mksysb tape** of \`${resolved.source}\` written to \`${resolved.tape.device}\` on \`${resolved.tape.host}\`.`,
    '',
    `- backup ID: \`${resolved.backupId}\``,
    `- mksysb flags: \`${resolved.mksysbFlags.join(' ')}\`, record 4 block size ${resolved.record4BlockSize}`,
    `- verification: ${resolved.verify}; overwrite a written cartridge: ${resolved.overwrite ? 'yes' : 'no'}`,
    `- after ${resolved.retry.maxAttempts} failed attempts of a step the run waits ${resolved.operatorWaitHours} h for \`retry\` or \`abort\``,
    `- input: \`${JSON.stringify(input)}\``,
  ];
  if (note) lines.push(`- note: ${note}`);
  return lines.join('\n');
}

/** Visibility query for `list`. Values are quoted; unknown stages and outcomes are the caller's business. */
export function listQuery(filter: ListFilter): string {
  const q = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const parts = [`WorkflowType = ${q(WORKFLOW_TYPE)}`];
  if (filter.source) parts.push(`${SA_SOURCE.name} = ${q(filter.source)}`);
  if (filter.tapeHost) parts.push(`${SA_TAPE_HOST.name} = ${q(filter.tapeHost)}`);
  if (filter.tapeDevice) parts.push(`${SA_TAPE_DEVICE.name} = ${q(filter.tapeDevice)}`);
  if (filter.stage) parts.push(`${SA_STAGE.name} = ${q(filter.stage)}`);
  if (filter.outcome) parts.push(`${SA_OUTCOME.name} = ${q(filter.outcome)}`);
  if (filter.status) parts.push(`ExecutionStatus = ${q(filter.status)}`);
  if (filter.query) parts.push(`(${filter.query})`);
  return parts.join(' AND ');
}

/**
 * Validates the input as the workflow does (same function, same messages; the backup ID defaults to the workflow ID
 * made file-name safe). Throws InputValidationError naming every bad field.
 */
export function validateBackupInput(input: BackupInput, workflowId: string): ResolvedBackup {
  return parseBackupInput(input, { workflowId: backupIdFromWorkflowId(workflowId) });
}

/** The workflow ID of a backup: the given one, else `mksysb-tape/<source>/<YYYY-MM-DD>` (UTC date). */
export function workflowIdFor(input: BackupInput, opts: Pick<StartBackupOptions, 'workflowId' | 'date'> = {}): string {
  const source = typeof (input as { source?: unknown })?.source === 'string' ? (input as { source: string }).source : '';
  return opts.workflowId ?? defaultWorkflowId(source, opts.date ?? new Date());
}

/** The search attributes a run starts with (the workflow keeps stage and outcome current). */
export function startAttributes(resolved: ResolvedBackup) {
  return [
    { key: SA_SOURCE, value: resolved.source },
    { key: SA_TAPE_HOST, value: resolved.tape.host },
    { key: SA_TAPE_DEVICE, value: resolved.tape.device },
    { key: SA_STAGE, value: 'validating' },
    { key: SA_OUTCOME, value: 'running' },
  ];
}

/** A list entry from the run's search attributes. */
export function summaryOf(w: WorkflowExecutionInfo): BackupSummary {
  const sa: TypedSearchAttributes = w.typedSearchAttributes;
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    status: w.status.name,
    startTime: w.startTime,
    ...(w.closeTime ? { closeTime: w.closeTime } : {}),
    source: sa.get(SA_SOURCE),
    tapeHost: sa.get(SA_TAPE_HOST),
    tapeDevice: sa.get(SA_TAPE_DEVICE),
    stage: sa.get(SA_STAGE),
    outcome: sa.get(SA_OUTCOME),
  };
}

/** Who started a run, for its details: the user and machine of the client. */
export function startedBy(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  return `${user}@${hostname()} via the mksysb-tape client`;
}
