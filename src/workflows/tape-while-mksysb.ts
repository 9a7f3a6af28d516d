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
 * Verification checks the tape as written, streamed or not, as without the option; only its reads move earlier, so
 * that little is left after mksysb: records 1-3 are read back (verify "full"; record 2's install check at any level)
 * while mksysb runs, and record 4's check (lsmksysb -V, or its one-pass read-back) starts when the stream has ended,
 * beside both hosts' SHA-256 of the image. A record written at file 4 leaves files 1-3 as they were (AIX-TAPE.md, "AIX
 * tape devices": writing anywhere but the end erases everything after that point, nothing before it), and a write
 * that went to the wrong file fails record 4's check. Record 4's read-back is compared with what the stream sent,
 * which is then compared with the source's image; a stream that falls back to the staged copy has record 4 checked
 * again.
 */
import { CancellationScope, patched } from '@temporalio/workflow';
import type { Activities, RunPlan, StagedImage, StreamedRecord, VerifyOutcome } from '../activities';
import type { StreamResult } from '../shared/contract';
import { failureMessage } from '../shared/failures';
import { stagedPath } from '../tape/layout';
import { runCancelled } from './cancellation';
import { withDriveLock } from './drive-lock';
import type { RunStatus } from './run-status';
import { stageActivities } from './stage-activities';
import type { StagedImages } from './staged-images';
import type { TapePhase } from './tape-phase';

type Followed = Awaited<ReturnType<Activities['followImage']>>;

/** What the early writes left on the cartridge, and what was checked of it. */
export type EarlyTape =
  /** Records 1-4, record 4 as the stream sent it. */
  | { kind: 'streamed'; checked?: EarlyChecks }
  /** Records 1-3; record 4 is still to be written, from the staged copy. */
  | { kind: 'record4'; checked?: EarlyChecks }
  /** Nothing the run relies on; the drive is released. */
  | { kind: 'released' };

/** Verification begun before the tape phase (runs whose histories have the patch only). */
export interface EarlyChecks {
  /** Records 1-3 read back (verify "full") and record 2's install check, made before record 4 was written. */
  head: VerifyOutcome;
  /** Record 4's check, begun when the stream ended; undefined when it did not run to its end. Only with `streamed`. */
  record4?: Promise<VerifyOutcome | undefined>;
}

/** Runs started before verification moved into mksysb's time check the tape after the stream, as other runs do. */
export const CHECK_WHILE_MKSYSB = 'check-tape-while-mksysb';

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
    const checkEarly = this.plan.backup.verify !== 'none' && patched(CHECK_WHILE_MKSYSB);
    try {
      await this.recordsOneToThree();
    } catch (err) {
      if (runCancelled(err)) throw err;
      return this.release(`records 1-3 could not be written while mksysb ran: ${failureMessage(err)}`);
    }
    const head = checkEarly ? await this.checkHead() : undefined;
    const scope = new CancellationScope();
    const streaming = scope.run(() => this.act(`stream record 4/4, mksysb image, to ${this.drive} as mksysb writes it`).streamRecord4(this.plan, this.generation));
    streaming.catch(() => undefined); // awaited below, or stopped and then awaited
    this.status.show('tape-write', `streaming record 4/4 (mksysb image) to ${this.drive} as mksysb writes it`, { record: 4 });
    const stop = async (): Promise<void> => {
      scope.cancel();
      await streaming.catch(() => undefined);
    };
    // Record 4's check holds the drive: it ends before the drive is released or record 4 is written again.
    const record4 = head ? streaming.then((sent) => this.checkRecord4(sent)) : undefined;
    record4?.catch(() => undefined); // awaited by the tape phase, or settled here
    const early = await this.afterStream(followed, mksysb, streaming, stop);
    if (early.kind !== 'streamed') await record4?.catch(() => undefined);
    if (!head || early.kind === 'released') return early;
    return { ...early, checked: early.kind === 'streamed' && record4 ? { head, record4 } : { head } };
  }

  /** Once the stream is under way: what it left on the cartridge, from the follow's and mksysb's outcomes and its own. */
  private async afterStream(
    followed: Promise<Followed | null>,
    mksysb: Promise<StagedImage>,
    streaming: Promise<StreamedRecord>,
    stop: () => Promise<void>,
  ): Promise<EarlyTape> {
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

  /**
   * Records 1-3 read back (verify "full") and record 2's install check, while mksysb runs; undefined when that could
   * not be done (the tape phase then checks them after record 4, as without the option).
   */
  private async checkHead(): Promise<VerifyOutcome | undefined> {
    const { plan, images, drive } = this;
    const full = plan.backup.verify === 'full';
    this.status.show('verify', `checking records ${full ? '1-3' : '2'} in ${drive} while mksysb runs`, { record: full ? 1 : 2 });
    try {
      return await this.act(`verify ${drive} while mksysb runs: ${full ? 'read back records 1-3' : 'record 2 as BOS install reads it'}`, 'verify').verifyTape(
        plan,
        [images.image(1), images.image(2)],
        { records: [1, 2, 3] },
      );
    } catch (err) {
      if (runCancelled(err)) throw err;
      return undefined;
    }
  }

  /**
   * Record 4's check once the stream has written it: lsmksysb -V, or (verify "full") its read-back against what the
   * stream sent, which the run compares with the source's image before the record counts. Undefined when it failed.
   */
  private async checkRecord4(sent: StreamedRecord): Promise<VerifyOutcome | undefined> {
    if (sent.bytes === undefined) return undefined;
    const { plan, drive } = this;
    const asSent: StagedImage = { record: 4, file: stagedPath(plan.stagingSource, 4), bytes: sent.bytes, sha256: sent.sha256 };
    const what = plan.backup.verify === 'full' ? 'read back record 4, check the archive' : 'lsmksysb -V';
    this.status.show('verify', `checking record 4 in ${drive} as the stream wrote it (${what}) while both hosts hash the image`, { record: 4 });
    try {
      return await this.act(`verify ${drive}: ${what}, as the stream wrote it`, 'verify').verifyTape(plan, [this.images.image(1), this.images.image(2), asSent], { records: [4] });
    } catch (err) {
      if (runCancelled(err)) throw err;
      return undefined;
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

  private act(summary: string, stage: 'tape-write' | 'tape-prepare' | 'verify' = 'tape-write'): Activities {
    return stageActivities(this.plan, stage, summary);
  }
}
