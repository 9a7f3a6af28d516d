/**
 * The tape activities' hold on their drive (src/tape/fence.ts): each attempt claims the drive on the tape host first,
 * and runs every command that moves or reads the tape under the fence, so an attempt Temporal has given up on cannot
 * move the tape under the attempt that replaced it (or under the next backup on the drive).
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { fence } from '../tape';
import type { ExecResult } from '../ssh';
import type { ActivityHosts } from './hosts';
import type { RunPlan } from './types';

/** This attempt's place in the order of attempts: the server's scheduled time of the attempt, then its number. */
function attemptToken(): string {
  try {
    const { info } = Context.current();
    return fence.tokenFor({ scheduledMs: info.currentAttemptScheduledTimestampMs, attempt: info.attempt, activityId: info.activityId });
  } catch {
    // Outside an activity (scripts): now, which is newer than any attempt before.
    return fence.tokenFor({ scheduledMs: Date.now(), attempt: 1, activityId: '0' });
  }
}

function superseded(where: string, owner: string): ApplicationFailure {
  // Retryable: an attempt that is still the current one gets a newer token on its next attempt and takes the drive.
  return ApplicationFailure.retryable(
    `${where} is held by a newer attempt (fence token ${owner || 'unknown'}); this attempt stopped without touching the tape`,
    'DriveSuperseded',
  );
}

export class FencedDrive {
  private constructor(
    private readonly hosts: ActivityHosts,
    private readonly plan: RunPlan,
    readonly token: string,
  ) {}

  /**
   * Claims the drive for this attempt, stopping older attempts' commands on it. `keep`: the detached record write this
   * attempt re-attaches to, if it is running.
   */
  static async claim(hosts: ActivityHosts, plan: RunPlan, opts: { keep?: string } = {}): Promise<FencedDrive> {
    const drive = new FencedDrive(hosts, plan, attemptToken());
    const { host, device, dir } = drive.where();
    const res = await hosts.run(host, `claim ${host}:${device}`, fence.claim(dir, device, drive.token, opts), { allowExit: [fence.SUPERSEDED_EXIT] });
    drive.check(res);
    return drive;
  }

  /** Runs a command line on the drive while this attempt holds it; a non-zero exit fails as `hosts.run` does. */
  async run(what: string, cmd: string, opts: { allowExit?: readonly number[] } = {}): Promise<ExecResult> {
    const { host, device, dir } = this.where();
    const res = await this.hosts.run(host, what, fence.guard(dir, device, this.token, cmd), {
      allowExit: [...(opts.allowExit ?? []), fence.SUPERSEDED_EXIT],
    });
    this.check(res);
    return res;
  }

  /** A detached command's text (a record write) that runs only while this attempt holds the drive. */
  detached(name: string, cmd: string): string {
    const { device, dir } = this.where();
    return fence.guard(dir, device, this.token, cmd, { name });
  }

  private check(res: ExecResult): void {
    const owner = res.code === fence.SUPERSEDED_EXIT ? fence.parseSuperseded(res.stdout) : null;
    if (owner !== null) throw superseded(this.describe(), owner);
  }

  private describe(): string {
    const { host, device } = this.where();
    return `the drive ${host}:${device}`;
  }

  private where(): { host: string; device: string; dir: string } {
    const { backup } = this.plan;
    return { host: backup.tape.host, device: backup.tape.device, dir: backup.workFolder.tape };
  }
}
