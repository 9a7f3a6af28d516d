/**
 * Following the mksysb image as it grows: while the detached `mksysb` runs on the source, each round moves what the
 * file holds beyond what the tape host already has (`tail -c +N`, which reads to the current end of the file and
 * stops: AIX's `tail -f` cannot be relied on for a growing file over SSH), and after `mksysb` has exited one last
 * round takes the final bytes. An optimisation only: the workflow still compares the tape host's SHA-256 of the whole
 * file with the source's, and falls back to `transferImage` when they differ or when following stopped early (mksysb
 * failed or was restarted, which rewrites the file from its start).
 */
import type { RelayClient } from '../../shared/contract';
import type { SshHost } from '../../ssh';
import { pullRoute } from '../../schema';
import { detached, images, stagedPath, transfer } from '../../tape';
import { cancellationSignal, heartbeat, sleep, warn } from '../context';
import { commandFailure, mapSshErrors } from '../failures';
import type { ActivityHosts } from '../hosts';
import { describeImage } from '../images';
import { execIdempotent } from '../remote-exec';
import type { FollowOutcome, RunPlan } from '../types';
import { earlierPull, pullRound, pullSource } from './direct-pull';
import { checkWriter, relayRange } from './relay';
import { copyPath, survey } from './staged-copy';
import { sealCommand } from '../stream';

/**
 * Follows the source's growing mksysb image (record 4) while the detached `mksysb` of this backup writes it, and
 * returns the tape host's size and SHA-256 of its copy once mksysb has exited successfully and the last bytes moved;
 * `complete: false` when mksysb ended otherwise (the caller then moves the image the ordinary way).
 * Assumes mksysb only appends to its output file (it writes one backup archive front to back); any other change is
 * caught by the caller's SHA-256 comparison.
 */
export async function followImage(hosts: ActivityHosts, plan: RunPlan, opts: { sealStream?: string } = {}): Promise<FollowOutcome> {
  const f = await Follower.start(hosts, plan);
  const { source } = plan.backup;
  // As often as the detached mksysb is polled (each round is a few channels on both connections).
  const interval = hosts.deps.pollIntervalMs ?? 2000;
  for (;;) {
    // The state first, then the bytes: a move that starts after mksysb has exited sees the whole file.
    const state = detached.parseState(await f.ask(source, 'state of mksysb', detached.poll(plan.stagingSource, 'mksysb')));
    const failed = state.state === 'exited' ? state.code !== 0 : state.state === 'stopped' || state.state === 'vanished';
    if (failed) return f.outcome(false);
    const have = images.parseSizeOrAbsent(await f.ask(source, `size of ${f.file}`, images.fileSizeOrAbsent(f.file)));
    // The source file is shorter than the copy: mksysb started again. Leave it to transferImage.
    if (have !== null && have < f.offset) return f.outcome(false);
    if (have !== null && have > f.offset && !(await f.round())) continue;
    heartbeat({ stage: 'transfer', record: 4, bytesDone: f.offset, offset: f.offset });
    if (state.state === 'exited' && state.code === 0) {
      // The copy holds every byte mksysb wrote: a stream of record 4 (writeWhileMksysb) may write its last ones while
      // both hosts hash the image; what it sent is compared with the source's SHA-256 before it counts.
      if (opts.sealStream) await hosts.run(plan.backup.tape.host, 'seal the stream of record 4', sealCommand(plan, opts.sealStream, f.offset));
      return f.outcome(true, await describeImage(hosts, plan.backup.tape.host, plan.tapeOs, 4, f.target));
    }
    if (have === null || have === f.offset) await sleep(interval, f.signal);
  }
}

/** One following of the mksysb image: the copy's length so far, what this attempt moved, and by which way. */
class Follower {
  readonly signal = cancellationSignal();
  private readonly resumedFrom: number;
  private sent = 0;
  private rounds = 0;
  private directFailed: string | undefined;
  private relayedBy: RelayClient | undefined;

  private constructor(
    private readonly hosts: ActivityHosts,
    private readonly plan: RunPlan,
    readonly file: string,
    readonly target: string,
    public offset: number,
    private readonly src: SshHost,
    private readonly dst: SshHost,
    /** How the tape host pulls each round itself, while it can; relayed rounds otherwise. */
    private direct: transfer.PullSource | undefined,
  ) {
    this.resumedFrom = offset;
  }

  static async start(hosts: ActivityHosts, plan: RunPlan): Promise<Follower> {
    const { backup } = plan;
    const tapeHost = backup.tape.host;
    const file = stagedPath(plan.stagingSource, 4);
    const target = copyPath(plan, file);
    const found = await survey(hosts, plan, target, 4);
    // No pull of an earlier transferImage may write the copy meanwhile (one from a run of this backup before).
    await earlierPull(hosts, plan, 4, found.pull, false);
    const src = await hosts.host(backup.source);
    const dst = await hosts.host(tapeHost);
    const route = pullRoute(await hosts.inventory(), tapeHost, backup.source);
    const direct = route ? pullSource(plan, route) : undefined;
    if (direct) await hosts.run(tapeHost, `pin the host key of ${backup.source}`, direct.pin);
    return new Follower(hosts, plan, file, target, found.size ?? 0, src, dst, direct?.src);
  }

  /** A read that changes nothing, retried when a channel closes without an exit status. */
  async ask(hostName: string, what: string, cmd: string): Promise<string> {
    const h = await this.hosts.host(hostName);
    const r = await mapSshErrors(() => execIdempotent(h, cmd, { signal: this.signal }));
    if (r.code !== 0) throw commandFailure(hostName, what, r);
    return r.stdout;
  }

  /** Moves what the source file holds beyond the copy; false when the tape host could not pull (relayed from now on). */
  async round(): Promise<boolean> {
    const base = this.offset;
    if (this.direct) {
      const pulled = await pullRound(this.hosts, this.plan, this.direct, this.file, base, this.target);
      if ('refused' in pulled) {
        this.directFailed = pulled.refused;
        this.direct = undefined;
        warn(`${this.plan.backup.tape.host} cannot pull the mksysb image from ${this.plan.backup.source} itself (${this.directFailed}); relaying it through the worker`);
        return false;
      }
      this.offset = pulled.size;
      this.sent += pulled.size - base;
    } else {
      const res = await relayRange(this.hosts, this.plan, {
        src: this.src,
        dst: this.dst,
        file: this.file,
        target: this.target,
        base,
        write: (framed) => transfer.writeFrom(this.target, base, { framed }),
        onProgress: (n) => heartbeat({ stage: 'transfer', record: 4, bytesDone: base + n, offset: base + n }),
        signal: this.signal,
      });
      checkWriter(this.plan.backup.tape.host, this.target, res);
      this.relayedBy = res.via;
      this.offset = base + res.bytes;
      this.sent += res.bytes;
    }
    this.rounds++;
    return true;
  }

  outcome(complete: boolean, there?: { bytes: number; sha256: string }): FollowOutcome {
    return {
      record: 4,
      complete,
      resumedFrom: this.resumedFrom,
      bytesSent: this.sent,
      rounds: this.rounds,
      ...(there ? { bytes: there.bytes, sha256: there.sha256 } : {}),
      mode: this.direct ? 'direct' : 'relay',
      ...(this.directFailed !== undefined ? { directFailed: this.directFailed } : {}),
      ...(!this.direct && this.relayedBy ? { relayedBy: this.relayedBy } : {}),
    };
  }
}
