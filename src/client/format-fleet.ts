/**
 * Human output of the fleet commands: pure functions from the fleet API's shapes to text (no I/O).
 */
import type { Drive } from '../shared/drive';
import type { FleetStatus } from '../shared/fleet';
import type { FleetRunStatus, FleetScheduleEntry } from './fleets';
import { table } from './format';

const driveText = (d?: Drive) => (d ? `${d.host}:${d.device}` : '-');

function countsText(c: FleetStatus['counts']): string {
  return `${c.ok} ok, ${c.failed} failed, ${c.running} running, ${c.queued} queued`;
}

/** One line per source that changed state, then the counts. */
export function fleetProgressLines(s: FleetRunStatus, prev?: FleetRunStatus): string {
  const before = new Map((prev?.sources ?? []).map((e) => [e.source, e.state]));
  const lines: string[] = [];
  for (const e of s.sources ?? []) {
    if (before.get(e.source) === e.state || (e.state === 'queued' && !before.has(e.source))) continue;
    if (e.state === 'running') lines.push(`  ${e.source}: running on ${driveText(e.drive)}`);
    else if (e.state === 'ok') lines.push(`  ${e.source}: ok on ${driveText(e.drive)}, ${e.bytes} bytes, ${e.seconds}s`);
    else if (e.state === 'failed') lines.push(`  ${e.source}: FAILED${e.drive ? ` on ${driveText(e.drive)}` : ''}: ${e.error}`);
  }
  if (s.counts) lines.push(`fleet ${s.workflowId}: ${countsText(s.counts)}`);
  return lines.join('\n');
}

/** The run, its counts and times, and a table of its sources. */
export function formatFleetStatus(s: FleetRunStatus): string {
  const lines = [`fleet ${s.workflowId} (run ${s.runId}): ${s.status}${s.counts ? `, ${countsText(s.counts)}` : ''}`];
  const runs = s.result?.runs ?? s.run;
  if (runs && runs > 1) lines.push(`  continued as new ${runs - 1} times (run ${runs} of the workflow), which keeps its history short`);
  if (s.result) lines.push(`  ${s.result.seconds}s, from ${s.result.startedAt} to ${s.result.finishedAt}`);
  if (s.failure) lines.push(`  reason: ${s.failure}`);
  if (s.pending) lines.push(`  ${s.pending}`);
  if (s.sources?.length) {
    lines.push(
      table(
        ['SOURCE', 'STATE', 'DRIVE', 'BYTES', 'SECONDS', 'DETAIL'],
        s.sources.map((e) => [
          e.source,
          e.state,
          driveText(e.drive),
          e.bytes !== undefined ? String(e.bytes) : '-',
          e.seconds !== undefined ? String(e.seconds) : '-',
          e.state === 'failed' ? (e.error ?? '') : e.state === 'running' ? (e.doing ?? `since ${e.startedAt ?? '?'}`) : e.workflowId,
        ]),
      ),
    );
  }
  return lines.join('\n');
}

/** Fleet schedules with the sources and drives of the fleet each one starts. */
export function formatFleetSchedules(list: FleetScheduleEntry[]): string {
  return table(
    ['FLEET SCHEDULE ID', 'STATE', 'WHEN', 'SOURCES', 'DRIVES', 'NEXT RUN'],
    list.map((s) => [
      s.scheduleId,
      s.paused ? 'paused' : 'active',
      `${s.cron.join('; ')}${s.timeZone ? ` (${s.timeZone})` : ''}`,
      s.input?.group !== undefined ? `group ${s.input.group}` : (s.input?.sources?.join(',') ?? '-'),
      s.input?.drives.map(driveText).join(',') ?? '-',
      s.nextActionTimes[0]?.toISOString().replace(/\.\d+Z$/, 'Z') ?? '-',
    ]),
  );
}
