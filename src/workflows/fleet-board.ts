/**
 * The board of a fleet run: every source's entry (queued, running, ok, failed), the children running on each drive,
 * and what the fleet shows of them (its `fleetStatus` query, its details in the Temporal UI, its result).
 */
import { setCurrentDetails } from '@temporalio/workflow';
import type { Drive, FleetInput, FleetSourceResult, FleetSourceState, FleetStatus } from '../shared/fleet';

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
  readonly entries = new Map<string, FleetSourceResult>();
  /** Sources in the order their children started: the order of the result. */
  readonly startedOrder: string[] = [];
  running = 0;
  finished = 0;
  private readonly runningOn: Map<string, number>;

  constructor(
    readonly fleetId: string,
    private readonly sourceCount: number,
    readonly drives: Drive[],
    private readonly limits: { perTapeHost: Record<string, number>; total: number | null },
  ) {
    this.runningOn = new Map(drives.map((d) => [driveKey(d), 0]));
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
    return { fleetId: this.fleetId, counts: this.count(), sources: [...this.entries.values()].map((e) => ({ ...e })) };
  }

  /** The drive for the next child, or none while the limits are reached. */
  nextDrive(): Drive | undefined {
    return this.limits.total !== null && this.running >= this.limits.total ? undefined : this.pickDrive();
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

  showDetails(): void {
    const c = this.count();
    const entries = [...this.entries.values()];
    const lines = [
      `**Fleet** ${this.sourceCount} sources on ${this.drives.length} drives: ${c.ok} ok, ${c.failed} failed, ${c.running} running, ${c.queued} queued`,
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
      return `- ${e.source}: running on ${driveKey(e.drive!)} since ${e.startedAt}${e.doing ? `; ${e.doing}` : ''}`;
    case 'ok':
      return `- ${e.source}: ok on ${driveKey(e.drive!)}, ${e.bytes} bytes, ${e.seconds}s`;
    case 'failed':
      return `- ${e.source}: FAILED${e.drive ? ` on ${driveKey(e.drive)}` : ''}: ${e.error}`;
  }
}
