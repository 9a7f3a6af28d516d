/**
 * The board of a fleet run: every source's entry (queued, running, ok, failed), the children running on each drive,
 * what the fleet shows of them (its `fleetStatus` query, its details in the Temporal UI, its result), and the carry
 * that hands it to the next run when the fleet continues as new.
 */
import { setCurrentDetails } from '@temporalio/workflow';
import type { Drive, FleetCarry, FleetInput, FleetResult, FleetSourceResult, FleetSourceState, FleetStatus, PackedEntry } from '../shared/fleet';

const driveKey = (d: Drive) => `${d.host}/${d.device}`;

/** Longest first, by the tape bytes of each source's last backup; sources never backed up before go first, in the given order. */
export function longestFirst(sources: string[], sizes: Record<string, number>): string[] {
  return sources
    .map((s, i) => ({ s, i, b: sizes[s] }))
    .sort((a, b) => (a.b === undefined ? -Infinity : -a.b) - (b.b === undefined ? -Infinity : -b.b) || a.i - b.i)
    .map((x) => x.s);
}

/** Running children allowed per tape host (default two per drive: one writes while the next makes its images) and in all. */
export function childLimits(input: FleetInput, drives: Drive[]): { perTapeHost: Record<string, number>; total: number | null } {
  const perTapeHost: Record<string, number> = {};
  for (const h of new Set(drives.map((d) => d.host))) {
    perTapeHost[h] = input.maxConcurrentMksysbPerTapeHost ?? 2 * drives.filter((d) => d.host === h).length;
  }
  return { perTapeHost, total: input.maxConcurrentTransfers ?? null };
}

export class FleetBoard {
  /** Every source, longest first; children start in this order. */
  readonly entries = new Map<string, FleetSourceResult>();
  /** Sources in the order their children started: the order of the result. */
  readonly startedOrder: string[] = [];
  running = 0;
  finished = 0;
  /** Children whose start is asked for but not yet confirmed: the fleet does not continue as new meanwhile. */
  starting = 0;
  private readonly runningOn: Map<string, number>;

  constructor(
    readonly fleetId: string,
    readonly drives: Drive[],
    readonly limits: FleetResult['limits'],
    /** This run's number (1 + the times the fleet continued as new). */
    readonly run = 1,
  ) {
    this.runningOn = new Map(drives.map((d) => [driveKey(d), 0]));
  }

  /** The board a continued run receives; its running entries are the children the earlier runs started. */
  static restore(fleetId: string, carry: FleetCarry): FleetBoard {
    const board = new FleetBoard(fleetId, carry.drives, carry.limits, carry.runs + 1);
    for (const p of carry.entries) {
      const e = unpack(p, `${fleetId}/${p.s}`, carry.drives);
      board.entries.set(e.source, e);
      if (e.state !== 'queued') board.startedOrder.push(e.source);
      if (e.state === 'running') board.take(e.drive!);
      else if (e.state !== 'queued') board.finished++;
    }
    return board;
  }

  carry(startedAt: string): FleetCarry {
    return { startedAt, runs: this.run, drives: this.drives, limits: this.limits, entries: [...this.entries.values()].map((e) => pack(e, this.drives)) };
  }

  /** Sources not started yet, in the order they start. */
  queued(): string[] {
    return [...this.entries.values()].filter((e) => e.state === 'queued').map((e) => e.source);
  }

  queue(source: string, workflowId: string, expectedBytes: number | undefined): void {
    this.entries.set(source, {
      source,
      state: 'queued',
      workflowId,
      ...(expectedBytes !== undefined ? { expectedBytes } : {}),
    });
  }

  count(): Record<FleetSourceState, number> {
    const c = { queued: 0, running: 0, ok: 0, failed: 0 };
    for (const e of this.entries.values()) c[e.state]++;
    return c;
  }

  status(): FleetStatus {
    return { fleetId: this.fleetId, run: this.run, counts: this.count(), sources: [...this.entries.values()].map((e) => ({ ...e })) };
  }

  /** The drive for the next child, or none while the limits are reached. */
  nextDrive(): Drive | undefined {
    return this.limits.total !== null && this.running >= this.limits.total ? undefined : this.pickDrive();
  }

  /** How many children run on `drive` now. */
  childrenOn(drive: Drive): number {
    return this.runningOn.get(driveKey(drive)) ?? 0;
  }

  /**
   * Whether the child of `source`, about to start on `drive` with `queued` sources still after it, may hold the drive
   * through its mksysb (`writeWhileMksysb`), and why:
   * - `free`: no child on the drive and none queued: nothing else can want it;
   * - `longest`: no child on the drive, and the source's size is known from its last run. Longest first, every backup
   *   that can follow it onto this drive is then no larger, so streaming this one can delay the next by no more than
   *   its stream's tail, and saves up to its whole write (docs/fleets.md gives the argument).
   * Undefined when the drive has a child already, or the source has never been backed up while others are queued.
   */
  holdThroughMksysb(source: string, drive: Drive, queued: number): 'free' | 'longest' | undefined {
    if (this.childrenOn(drive) > 0) return undefined;
    if (queued === 0) return 'free';
    return this.entries.get(source)?.expectedBytes !== undefined ? 'longest' : undefined;
  }

  /** A child starts on `drive`. */
  take(drive: Drive): void {
    this.runningOn.set(driveKey(drive), this.runningOn.get(driveKey(drive))! + 1);
    this.running++;
  }

  /** A child on `drive` ended. */
  release(drive: Drive): void {
    this.runningOn.set(driveKey(drive), this.runningOn.get(driveKey(drive))! - 1);
    this.running--;
    this.finished++;
  }

  /** `source`'s child starts on `drive` (taken already). */
  begin(source: string, drive: Drive): FleetSourceResult {
    const e = this.entries.get(source)!;
    e.state = 'running';
    e.drive = drive;
    e.startedAt = new Date().toISOString();
    this.startedOrder.push(source);
    this.showDetails();
    return e;
  }

  /** A running entry's child ended: ok with its tape bytes, or failed with the error. Its drive is freed. */
  end(e: FleetSourceResult, outcome: { bytes: number } | { error: string }): void {
    if (e.state !== 'running') return;
    if ('bytes' in outcome) {
      e.state = 'ok';
      e.bytes = outcome.bytes;
    } else {
      e.state = 'failed';
      e.error = outcome.error;
    }
    const t1 = Date.now();
    e.finishedAt = new Date(t1).toISOString();
    e.seconds = Math.round((t1 - Date.parse(e.startedAt!)) / 100) / 10;
    this.release(e.drive!);
    this.showDetails();
  }

  showDetails(): void {
    const c = this.count();
    const entries = [...this.entries.values()];
    const lines = [
      `**Fleet** ${entries.length} sources on ${this.drives.length} drives: ${c.ok} ok, ${c.failed} failed, ${c.running} running, ${c.queued} queued` +
        `${this.run > 1 ? ` (run ${this.run}: continued as new ${this.run - 1} times)` : ''}`,
      '',
      'What a running backup does: its own details (open it from the list of children), or `mksysb-tape fleet status`.',
      '',
      ...this.drives.map((d) => {
        const on = entries.filter((e) => e.state === 'running' && e.drive && driveKey(e.drive) === driveKey(d));
        return `- ${driveKey(d)}: ${on.length ? on.map((e) => e.source).join(', ') : 'idle'}`;
      }),
      '',
      ...entries.map(entryLine),
    ];
    setCurrentDetails(lines.join('\n'));
  }

  /** On a tape host under its limit, the drive with the fewest running children, first listed on ties. */
  private pickDrive(): Drive | undefined {
    const runningOnHost = (h: string) => this.drives.filter((d) => d.host === h).reduce((n, d) => n + this.runningOn.get(driveKey(d))!, 0);
    let best: Drive | undefined;
    for (const d of this.drives) {
      if (runningOnHost(d.host) >= this.limits.perTapeHost[d.host]!) continue;
      if (!best || this.runningOn.get(driveKey(d))! < this.runningOn.get(driveKey(best))!) best = d;
    }
    return best;
  }
}

function entryLine(e: FleetSourceResult): string {
  switch (e.state) {
    case 'queued':
      return `- ${e.source}: queued`;
    case 'running':
      return `- ${e.source}: running on ${driveKey(e.drive!)} since ${e.startedAt}`;
    case 'ok':
      return `- ${e.source}: ok on ${driveKey(e.drive!)}, ${e.bytes} bytes, ${e.seconds}s`;
    case 'failed':
      return `- ${e.source}: FAILED${e.drive ? ` on ${driveKey(e.drive)}` : ''}: ${e.error}`;
  }
}

function pack(e: FleetSourceResult, drives: Drive[]): PackedEntry {
  const d = e.drive ? drives.findIndex((x) => driveKey(x) === driveKey(e.drive!)) : -1;
  const p: PackedEntry = { s: e.source, st: e.state };
  if (d >= 0) p.d = d;
  // Only a running child's run is needed again (to wait for it); the others' would only lengthen the carry.
  if (e.runId !== undefined && e.state === 'running') p.r = e.runId;
  if (e.bytes !== undefined) p.b = e.bytes;
  if (e.expectedBytes !== undefined) p.x = e.expectedBytes;
  if (e.error !== undefined) p.e = e.error;
  if (e.startedAt !== undefined) p.t0 = Date.parse(e.startedAt);
  if (e.finishedAt !== undefined) p.t1 = Date.parse(e.finishedAt);
  return p;
}

function unpack(p: PackedEntry, workflowId: string, drives: Drive[]): FleetSourceResult {
  const e: FleetSourceResult = { source: p.s, state: p.st, workflowId };
  if (p.r !== undefined) e.runId = p.r;
  if (p.d !== undefined) e.drive = drives[p.d];
  if (p.b !== undefined) e.bytes = p.b;
  if (p.x !== undefined) e.expectedBytes = p.x;
  if (p.e !== undefined) e.error = p.e;
  if (p.t0 !== undefined) e.startedAt = new Date(p.t0).toISOString();
  if (p.t1 !== undefined) e.finishedAt = new Date(p.t1).toISOString();
  if (p.t0 !== undefined && p.t1 !== undefined) e.seconds = Math.round((p.t1 - p.t0) / 100) / 10;
  return e;
}
