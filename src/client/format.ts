/**
 * Human output of the CLI: pure functions from the client API's shapes to text (no I/O, unit-tested).
 */
import { RELAY_CLIENT, type BackupProgress, type BackupResult } from '../shared/contract';
import { formatBytes as formatByteCount } from '../shared/format';
import { ACTIVITY_STAGE, stageStepLabel } from '../shared/stages';
import type { BackupStatus, BackupSummary, PendingStep, ScheduleInfo } from './backups';
import type { InventoryCheckReport } from './inventory-check';

/** Byte counts in the CLI's columns: "512 B", "512 KiB", "1.0 MiB". */
export function formatBytes(n: number): string {
  return formatByteCount(n, 'column');
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** One progress line (and bar) per stage and record: `transfer record 4`. */
export interface StepFigures {
  key: string;
  label: string;
  bytesDone?: number;
  bytesTotal?: number;
  elapsedMs?: number;
  attempt?: number;
  failing?: string;
}

/**
 * The steps of a run in progress, one per stage and record: from the pending activities' heartbeats (several run at
 * once: the small images move while mksysb runs) and from the `progress` query for the stage the workflow is in.
 */
export function stepsOf(status: BackupStatus): StepFigures[] {
  const out = new Map<string, StepFigures>();
  const add = (stage: string | undefined, record: number | undefined, f: Omit<StepFigures, 'key' | 'label'>) => {
    if (!stage || stage === 'done' || stage === 'validating') return;
    const key = record ? `${stage}:${record}` : stage;
    const label = `${stageStepLabel(stage)}${record ? ` ${record}/4` : ''}`;
    const prev = out.get(key);
    out.set(key, { key, label, ...prev, ...defined(f) });
  };
  const p = status.progress;
  if (p && p.outcome !== 'succeeded') add(p.stage, p.record, { bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, attempt: p.attempt });
  for (const a of status.pending) {
    const hb = a.heartbeat;
    const stage = hb?.stage ?? ACTIVITY_STAGE[a.activityType];
    add(stage, hb?.record, {
      bytesDone: hb?.bytesDone,
      bytesTotal: hb?.bytesTotal,
      elapsedMs: hb?.elapsedMs,
      attempt: a.attempt,
      failing: a.lastFailure,
    });
  }
  return [...out.values()];
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `transfer 4/4  2.0 MiB / 4.0 MiB (50%)` or `make image 4/4  running 12 s`. */
export function stepLine(s: StepFigures): string {
  let fig: string;
  if (s.bytesTotal && s.bytesDone !== undefined) {
    fig = `${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)} (${Math.floor((100 * s.bytesDone) / s.bytesTotal)}%)`;
  } else if (s.bytesTotal) {
    fig = `${formatBytes(s.bytesTotal)}${s.elapsedMs !== undefined ? `, running ${formatDuration(s.elapsedMs / 1000)}` : ''}`;
  } else if (s.elapsedMs !== undefined) fig = `running ${formatDuration(s.elapsedMs / 1000)}`;
  else fig = 'started';
  const attempt = s.attempt && s.attempt > 1 ? `, attempt ${s.attempt}` : '';
  return `${s.label}  ${fig}${attempt}`;
}

function pendingLine(a: PendingStep): string {
  const hb = a.heartbeat;
  const figs =
    hb?.bytesTotal && hb.bytesDone !== undefined
      ? ` ${formatBytes(hb.bytesDone)} / ${formatBytes(hb.bytesTotal)}`
      : hb?.elapsedMs !== undefined
        ? ` running ${formatDuration(hb.elapsedMs / 1000)}`
        : '';
  const attempt = a.attempt > 1 ? ` attempt ${a.attempt}${a.maximumAttempts ? `/${a.maximumAttempts}` : ''}` : '';
  const fail = a.lastFailure ? `; last failure: ${a.lastFailure}` : '';
  return `  ${a.activityType}${hb?.record ? ` record ${hb.record}` : ''}: ${a.state.toLowerCase()}${figs}${attempt}${fail}`;
}

export function formatStatus(s: BackupStatus): string {
  const lines: string[] = [];
  lines.push(`${s.workflowId}  (run ${s.runId})`);
  if (s.summary) lines.push(`  ${s.summary}`);
  const outcome = s.progress?.outcome ?? s.outcome ?? '?';
  lines.push(`  status:  ${s.status.toLowerCase()}, outcome ${outcome}, stage ${s.progress?.stage ?? s.stage ?? '?'}`);
  lines.push(`  started: ${s.startTime.toISOString()}${s.closeTime ? `, closed ${s.closeTime.toISOString()}` : ''}`);
  const p = s.progress;
  if (p) {
    lines.push(`  now:     ${p.activity}`);
    if (p.recordsWritten.length) lines.push(`  records written: ${p.recordsWritten.join(', ')}`);
    if (p.waiting) lines.push(...waitingLines(s.workflowId, p.waiting).map((l) => `  ${l}`));
    else if (p.lastError) lines.push(`  last error: ${p.lastError}`);
  } else if (s.progressError) lines.push(`  progress: ${s.progressError}`);
  for (const a of s.pending) lines.push(pendingLine(a));
  if (s.result) lines.push(...formatResult(s.result).split('\n').map((l) => `  ${l}`));
  if (s.failure) lines.push(`  reason: ${s.failure}`);
  return lines.join('\n');
}

/** What a waiting run waits for, and the command lines that answer it. */
export function waitingLines(workflowId: string, w: NonNullable<BackupProgress['waiting']>): string[] {
  if (w.for === 'cartridge') {
    return [
      `WAITING for the cartridge of volume ${w.volume ?? '?'} until ${w.until}: ${w.reason}`,
      `answer with: mksysb-tape volume-loaded ${workflowId} --volume ${w.volume ?? 'N'}   or   mksysb-tape abort ${workflowId} --reason "..."`,
    ];
  }
  return [
    `WAITING for an operator until ${w.until}: ${w.reason}`,
    `answer with: mksysb-tape retry ${workflowId} [--from-record N]   or   mksysb-tape abort ${workflowId} --reason "..."`,
  ];
}

export function formatResult(r: BackupResult): string {
  const lines = [`backup ${r.backupId}: ${r.source} → ${r.tape.host}:${r.tape.device}`];
  for (const rec of r.records) {
    lines.push(
      `  record ${rec.record} ${rec.name.padEnd(16)} ${formatBytes(rec.bytes).padStart(10)}  bs ${String(rec.blockSize).padEnd(6)} ` +
        `written ${rec.writes}x  sha256 ${rec.sha256 ? rec.sha256.slice(0, 16) + '…' : '-'}`,
    );
  }
  for (const t of r.transfers ?? []) {
    const by = t.relayedBy ? ` (${RELAY_CLIENT[t.relayedBy]})` : '';
    const how = t.alreadyThere ? 'already on the tape host' : t.mode === 'direct' ? 'pulled by the tape host' : `relayed by the worker${by}`;
    const from = t.resumedFrom > 0 && !t.alreadyThere ? `, resumed at ${formatBytes(t.resumedFrom)}` : '';
    const failed = t.directFailed !== undefined ? `; direct pull failed: ${t.directFailed}` : '';
    lines.push(`  moved record ${t.record}: ${how}${t.followed ? ' while mksysb wrote it' : ''}${from}${failed}`);
  }
  for (const vol of r.volumes ?? []) {
    lines.push(
      `  volume ${vol.volume}: archive bytes ${vol.from}..${vol.from + vol.archiveBytes}, ${formatBytes(vol.tapeBytes)} on tape, ` +
        `written ${vol.writes}x${vol.endOfMedium ? ', to its end of medium' : ''}  sha256 ${vol.sha256 ? vol.sha256.slice(0, 16) + '…' : '-'}`,
    );
  }
  const v = r.verification;
  lines.push(
    `verification ${v.level}: lsmksysb ${v.lsmksysb === null ? 'not run' : v.lsmksysb ? 'passed' : 'FAILED'}, ` +
      `read-back ${v.readBack === null ? 'not done' : v.readBack ? 'all records match' : 'MISMATCH'}` +
      (v.installImage === undefined || v.installImage === null ? '' : `, install image ${v.installImage ? 'ok' : 'WOULD NOT INSTALL'}`),
  );
  const d = Object.entries(r.durations)
    .map(([k, v]) => `${k} ${formatDuration(v ?? 0)}`)
    .join(', ');
  if (d) lines.push(`durations: ${d}`);
  lines.push(`staging ${r.stagingKept ? 'kept' : 'removed'}`);
  return lines.join('\n');
}

export function formatList(runs: BackupSummary[]): string {
  if (runs.length === 0) return 'no matching backups';
  const rows = runs.map((r) => [
    r.workflowId,
    r.status.toLowerCase(),
    r.outcome ?? '-',
    r.stage ?? '-',
    r.source ?? '-',
    r.tapeHost ? `${r.tapeHost}:${r.tapeDevice ?? '?'}` : '-',
    r.startTime.toISOString().replace(/\.\d+Z$/, 'Z'),
  ]);
  return table(['WORKFLOW ID', 'STATUS', 'OUTCOME', 'STAGE', 'SOURCE', 'TAPE', 'STARTED'], rows);
}

export function formatSchedules(list: ScheduleInfo[]): string {
  if (list.length === 0) return 'no mksysb-tape schedules';
  const rows = list.map((s) => [
    s.scheduleId,
    s.paused ? 'paused' : 'active',
    `${s.cron.join('; ')}${s.timeZone ? ` (${s.timeZone})` : ''}`,
    s.source ?? '-',
    s.tape ?? '-',
    s.nextActionTimes[0]?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '-',
  ]);
  return table(['SCHEDULE ID', 'STATE', 'WHEN', 'SOURCE', 'TAPE', 'NEXT RUN'], rows);
}

export function formatInventoryReport(r: InventoryCheckReport): string {
  if (r.inventoryError) return `inventory ${r.inventoryPath}: ${r.inventoryError}`;
  const lines = [`inventory ${r.inventoryPath}: ${r.hosts.length} host(s), ${r.ok ? 'all fine' : 'PROBLEMS found'}`];
  for (const h of r.hosts) {
    lines.push(`${h.ok ? 'ok  ' : 'FAIL'} ${h.host} (${h.os} ${h.roles.join('+')}, ${h.address}:${h.port})`);
    lines.push(`     host key ${h.hostKey}${h.connected ? ', logged in' : ''}`);
    const cmds = Object.entries(h.commands);
    if (cmds.length) lines.push(`     commands: ${cmds.map(([c, p]) => (p ? c : `${c} MISSING`)).join(', ')}`);
    if (h.workFolder.freeBytes !== undefined) {
      lines.push(`     work folder ${h.workFolder.path}: ${formatBytes(h.workFolder.freeBytes)} free of ${formatBytes(h.workFolder.totalBytes ?? 0)}`);
    }
    if (h.devices) lines.push(`     tape devices: ${h.devices.join(', ')}`);
    for (const p of h.problems) lines.push(`     problem: ${p}`);
  }
  return lines.join('\n');
}

/** A plain text table (two spaces between columns). */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
