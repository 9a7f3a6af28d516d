/**
 * Reads a lab tape host's command log (one JSON line per AIX command: time, command, arguments, exit, device) and
 * splits the commands on one drive into tape phases, to show from the lab's own record that no two backups used a
 * drive at once.
 *
 * A backup's tape phase starts with its preparation (`tctl -f DEV status`, then `chdev -l DEV -a extfm=yes`) and its
 * records are written by
 * `dd if=<staging>/<backupId>/N_name.img of=/dev/DEV.1`. Splitting the drive's commands at each preparation gives
 * segments; in a clean history every segment holds the writes of exactly one backup (records 1, 2, 3, 4 in order)
 * and its one check of the archive on tape (`lsmksysb -V`, or the one-pass read-back of record 4 that feeds restore),
 * and no backup shows up in two segments with another backup's segment between them.
 * If two backups overlapped on the drive, a segment would hold writes of two backups, a second archive check, or a
 * backup's writes would be split around another's preparation.
 */
import type { CommandLogEntry } from '../../lab/index';

export interface TapePhase {
  /** Backup ID whose staged images were written in this phase. */
  run: string;
  /** Log times (ms) of the phase's first and last command on the drive. */
  start: number;
  end: number;
  commands: number;
  /** Tape files written, in order. */
  files: number[];
  /**
   * Checks of the archive on tape that passed: `lsmksysb -V`, or the one-pass read-back of record 4 (verify "full" on
   * AIX: its `dd` of tape file 4 feeds the SHA-256 and restore -Tqf - together).
   */
  archiveChecks: number;
}

function deviceOf(e: CommandLogEntry): string | undefined {
  if (typeof e.device === 'string') return e.device;
  const tape = e.tape as { device?: unknown } | undefined;
  return typeof tape?.device === 'string' ? tape.device : undefined;
}

/** `tctl -f DEV status` (`mt` on Linux): the first command of a tape preparation (is a cartridge loaded?). */
function isStatus(e: CommandLogEntry): boolean {
  return (e.command === 'tctl' || e.command === 'mt') && e.args.includes('status');
}

function isExtfm(e: CommandLogEntry): boolean {
  return e.command === 'chdev' && e.args.includes('extfm=yes');
}

function isArchiveCheck(e: CommandLogEntry): boolean {
  if (e.exit !== 0) return false;
  const tape = e.tape as { op?: string; file?: number } | undefined;
  return e.command === 'lsmksysb' || (e.command === 'dd' && tape?.op === 'read' && tape.file === 4);
}

function isWrite(e: CommandLogEntry): boolean {
  return e.command === 'dd' && (e.tape as { op?: string } | undefined)?.op === 'write';
}

/** Splits the drive's commands into phases; `problems` lists everything that shows two backups sharing the drive. */
export function tapePhases(log: CommandLogEntry[], device: string, runs: string[]): { phases: TapePhase[]; problems: string[] } {
  const cmds = log
    .map((e, i) => ({ e, i, t: Date.parse(e.time) }))
    .filter((x) => deviceOf(x.e) === device)
    .sort((a, b) => a.t - b.t || a.i - b.i);
  const problems: string[] = [];
  const segments: (typeof cmds)[] = [];
  for (const c of cmds) {
    const cur = segments[segments.length - 1];
    if (isStatus(c.e)) segments.push([c]);
    else if (isExtfm(c.e)) {
      if (cur && cur.length === 1 && isStatus(cur[0]!.e)) cur.push(c);
      else segments.push([c]);
    }
    else if (segments.length === 0) problems.push(`${device}: ${c.e.command} ${c.e.args.join(' ')} at ${c.e.time} before any preparation`);
    else segments[segments.length - 1]!.push(c);
  }
  const runOf = (e: CommandLogEntry): string | undefined => {
    const src = e.args.find((a) => a.startsWith('if='));
    if (!src) return undefined;
    return runs.find((r) => src.includes(`/${r}/`));
  };
  const phases: TapePhase[] = [];
  for (const seg of segments) {
    const writers = new Set<string>();
    const files: number[] = [];
    for (const { e } of seg) {
      if (!isWrite(e)) continue;
      files.push((e.tape as { file: number }).file);
      const r = runOf(e);
      if (r) writers.add(r);
      else if (e.args.some((a) => a.startsWith('if='))) problems.push(`${device}: write at ${e.time} of an unknown backup: ${e.args.join(' ')}`);
    }
    const at = seg[0]!.e.time;
    // A preparation with no write after it (an attempt of prepareTape retried, e.g. after a lost channel on a loaded
    // machine) put nothing on tape: the next preparation opens the next segment.
    if (files.length === 0) continue;
    if (writers.size !== 1) {
      problems.push(`${device}: the phase prepared at ${at} wrote images of ${writers.size} backups (${[...writers].join(', ') || 'none'})`);
      continue;
    }
    const run = [...writers][0]!;
    const archiveChecks = seg.filter(({ e }) => isArchiveCheck(e)).length;
    const phase = { run, start: seg[0]!.t, end: seg[seg.length - 1]!.t, commands: seg.length, files, archiveChecks };
    const prev = phases[phases.length - 1];
    // A backup that prepares the drive again (a retry) continues its own phase.
    if (prev && prev.run === run) {
      prev.end = phase.end;
      prev.commands += phase.commands;
      prev.files.push(...files);
      prev.archiveChecks += archiveChecks;
    } else phases.push(phase);
  }
  const seen = new Map<string, number>();
  for (const p of phases) seen.set(p.run, (seen.get(p.run) ?? 0) + 1);
  for (const [run, n] of seen) {
    if (n > 1) problems.push(`${device}: ${run} used the drive in ${n} phases with other backups' phases between them`);
  }
  return { phases, problems };
}

/** Phases that overlap in time (should be none: they are cut at preparations, so this also checks the log order). */
export function overlapping(phases: TapePhase[]): Array<[TapePhase, TapePhase]> {
  const out: Array<[TapePhase, TapePhase]> = [];
  const sorted = [...phases].sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start < sorted[i - 1]!.end) out.push([sorted[i - 1]!, sorted[i]!]);
  }
  return out;
}
