/**
 * `writeWhileMksysb`: the drive taken as soon as the boot and install images are on the tape host, records 1-3
 * written while mksysb runs, and record 4 streamed to the drive from the tape host's staged copy as the follow moves
 * mksysb's output there (src/activities/stream.ts). The follow seals the stream once mksysb has ended well and the
 * copy holds every byte it wrote; the record on tape counts only when the follow's copy and the SHA-256 of what the
 * stream sent are both the source image's. Anything else falls back to today's path, never to a second mksysb:
 *
 * - records 1-3 on tape, mksysb done, the stream failed or sent other bytes: record 4 is written from the staged
 *   copy, in the same hold of the drive (`record4`);
 * - mksysb failed or was restarted, the follow stopped, or records 1-3 could not be written: the stream is stopped
 *   and the drive released (`released`) so that nothing holds it while mksysb is retried or an operator is asked;
 *   the tape is then written as without the option, from record 1 (this backup's own partial tape may be written
 *   over).
 *
 * Verification is as today and runs on the tape as written, streamed or not.
 */
import { CancellationScope } from '@temporalio/workflow';
import type { Activities, RunPlan, StagedImage, StreamedRecord } from '../activities';
import type { StreamResult } from '../shared/contract';
import { failureMessage } from '../shared/failures';
import { runCancelled } from './cancellation';
import { withDriveLock } from './drive-lock';
import type { RunStatus } from './run-status';
import { stageActivities } from './stage-activities';
import type { StagedImages } from './staged-images';
import type { TapePhase } from './tape-phase';

type Followed = Awaited<ReturnType<Activities['followImage']>>;

/** What the early writes left on the cartridge. */
export type EarlyTape =
  /** Records 1-4, record 4 as the stream sent it. */
  | { kind: 'streamed' }
  /** Records 1-3; record 4 is still to be written, from the staged copy. */
  | { kind: 'record4' }
  /** Nothing the run relies on; the drive is released. */
  | { kind: 'released' };

export class TapeWhileMksysb {
  readonly result: StreamResult = { streamed: false, earlyRecords: [] };
  private readonly drive: string;
  /** Names this run's early writes and its stream (`stream-r4-<generation>`), which the follow seals. */
  readonly generation: string;

  constructor(
    private readonly plan: RunPlan,
    private readonly images: StagedImages,
    private readonly status: RunStatus,
    runId: string,
  ) {
    this.drive = `${plan.backup.tape.host}:${plan.backup.tape.device}`;
    this.generation = `${runId.slice(0, 8)}-s`;
  }

  /**
   * Once records 1 and 2 are staged (`small`): takes the drive, writes early, and when that left records on the
   * cartridge goes on with the tape phase in the same hold (`phaseFor` builds it once the images are complete; its
   * argument: whether to check the cartridge's capacity, not needed when it took the whole stream). Undefined when the
   * drive was released: the run then writes the tape after mksysb. Never rejects unhandled.
   */
  start<P extends { written: TapePhase }>(
    small: Promise<void>,
    followed: Promise<Followed | null>,
    mksysb: Promise<StagedImage>,
    phaseFor: (check: boolean) => P,
    onDriveWait: (holder: string | undefined) => void,
  ): Promise<P | undefined> {
    const run = small.then(() =>
      withDriveLock(
        this.plan.backup.tape,
        async () => {
          const early = await this.write(followed, mksysb);
          if (early.kind === 'released') return undefined;
          await this.images.finishMksysb(await followed);
          const phase = phaseFor(early.kind === 'record4');
          await phase.written.writeAndVerify(early);
          return phase;
        },
        onDriveWait,
      ),
    );
    run.catch(() => undefined); // awaited by the run after the images, or before it fails
    return run;
  }

  /**
   * Under the drive lock, with records 1 and 2 staged: prepare, records 1-3, and record 4 streamed until mksysb has
   * ended (`followed`: the follow's outcome; `mksysb`: the image as made on the source).
   */
  private async write(followed: Promise<Followed | null>, mksysb: Promise<StagedImage>): Promise<EarlyTape> {
    try {
      await this.recordsOneToThree();
    } catch (err) {
      if (runCancelled(err)) throw err;
      return this.release(`records 1-3 could not be written while mksysb ran: ${failureMessage(err)}`);
    }
    const scope = new CancellationScope();
    const streaming = scope.run(() => this.act(`stream record 4/4, mksysb image, to ${this.drive} as mksysb writes it`).streamRecord4(this.plan, this.generation));
    streaming.catch(() => undefined); // awaited below, or stopped and then awaited
    this.status.show('tape-write', `streaming record 4/4 (mksysb image) to ${this.drive} as mksysb writes it`, { record: 4 });
    const stop = async (): Promise<void> => {
      scope.cancel();
      await streaming.catch(() => undefined);
    };

    const f = await followed;
    if (f?.complete !== true) {
      await stop();
      return this.release('mksysb did not end well while it was followed (it failed, or was restarted), or following it stopped');
    }
    const image = await mksysb;
    if (f.bytes !== image.bytes || f.sha256 !== image.sha256) {
      await stop();
      return this.fallBack(`the tape host's copy (${f.bytes} bytes) is not the source's image (${image.bytes} bytes, SHA-256 ${image.sha256})`);
    }
    // The follow sealed the stream when it had moved the last bytes; the stream ends with them.
    let sent: StreamedRecord;
    try {
      sent = await streaming;
    } catch (err) {
      if (runCancelled(err)) throw err;
      await stop();
      return this.fallBack(`the stream of record 4 failed: ${failureMessage(err)}`);
    }
    if (sent.sha256 !== image.sha256) return this.fallBack(`the stream sent bytes with SHA-256 ${sent.sha256}, not the image's ${image.sha256}`);
    this.result.streamed = true;
    this.status.progress.recordsWritten.push(4);
    return { kind: 'streamed' };
  }

  /** Prepare (with the blank check) and records 1-3, each with its activity's retries and no operator. */
  private async recordsOneToThree(): Promise<void> {
    const { plan, status, drive } = this;
    status.show('tape-prepare', `preparing ${drive} while mksysb runs: extfm=yes, block size 512, rewind`);
    await this.act(`prepare ${drive} (extfm, block size 512, rewind, blank check)`, 'tape-prepare').prepareTape(plan, { checkBlank: true });
    for (const k of [1, 2, 3] as const) {
      status.show('tape-write', `writing record ${k}/4 to ${drive} while mksysb runs`, { record: k });
      await this.act(`write record ${k}/4 to ${drive} while mksysb runs`).writeRecord(plan, k, this.generation, k === 3 ? undefined : this.images.image(k));
      this.result.earlyRecords.push(k);
      status.progress.recordsWritten.push(k);
    }
  }

  private fallBack(why: string): EarlyTape {
    this.result.fellBack = `${why}; record 4 written from the staged copy`;
    return { kind: 'record4' };
  }

  private release(why: string): EarlyTape {
    this.result.fellBack = `${why}; the drive was released and the tape written after mksysb`;
    return { kind: 'released' };
  }

  private act(summary: string, stage: 'tape-write' | 'tape-prepare' = 'tape-write'): Activities {
    return stageActivities(this.plan, stage, summary);
  }
}
