/**
 * The tape phase of a backup, run while the drive is held: prepare the drive (chdev extfm=yes, block size 512,
 * rewind, and a blank check before the first write), write records k..4 (a failure at record k resumes at k, since a
 * write erases what follows it), then a verify round (lsmksysb -V, and every record read back against its SHA-256).
 * A round that finds a bad record moves again every staged copy that changed since it was moved, and rewrites from
 * the first bad record; once the rounds are used up the operator decides.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { RunPlan, VerifyOutcome } from '../activities';
import { formatBytes } from '../shared/format';
import type { RecordNumber, RecordPlan, TapePlan } from '../tape/layout';
import { planVolumes } from '../tape/volumes';
import type { CartridgeDesk } from './cartridges';
import type { Operator } from './operator';
import type { RunStatus } from './run-status';
import { stageActivities } from './stage-activities';
import type { StagedImages } from './staged-images';
import type { EarlyChecks, EarlyTape } from './tape-while-mksysb';
import { VolumeSet } from './volume-set';

/**
 * Refuses, before anything is written, images that need more cartridges of the inventory's capacity than the backup
 * may span (`maxVolumes`, default 1).
 */
export function assertCartridgeHolds(tape: TapePlan, plan: RunPlan, wroteEarly = false): void {
  if (plan.capacityBytes === undefined || tape.totalBytes <= plan.capacityBytes) return;
  const max = plan.backup.maxVolumes ?? 1;
  const { needed } = planVolumes(tape, plan.capacityBytes);
  if (needed <= max) return;
  const where = `${plan.backup.tape.host}:${plan.backup.tape.device}`;
  const count = Number.isFinite(needed) ? `${needed} cartridges` : 'more cartridges than any number (records 1-3 alone do not fit)';
  throw ApplicationFailure.nonRetryable(
    `the images need ${formatBytes(tape.totalBytes)} of tape but a cartridge in ${where} holds ${formatBytes(plan.capacityBytes)}: ` +
      `${count} of that size, and the backup may span ${max} ("maxVolumes": ${max}). ` +
      (Number.isFinite(needed) ? `Start it with "maxVolumes": ${needed} (or more) to span cartridges. ` : '') +
      (wroteEarly
        ? 'Records 1-3 and the start of record 4 were written while mksysb ran: the cartridge holds no usable backup; the staged images were kept'
        : 'Nothing was written; the staged images were kept'),
    'ImageTooLarge',
  );
}

export class TapePhase {
  /** How many times each record was written in this run. */
  readonly writes: Record<number, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
  /** What the last verify round found. */
  verification: VerifyOutcome | undefined;
  /** Names each pass over the tape, so a retried write re-attaches to its own `dd` and never to an older one. */
  private generation = 0;
  private wroteAny = false;
  private verifyRounds = 0;
  private readonly drive: string;
  /** The cartridges of a backup that may span several (one when everything fit). */
  readonly set: VolumeSet;
  /** Record 4's last write reached the end of volume 1: the set goes on to further cartridges. */
  private cut = false;
  /** Checks made while mksysb ran (tape-while-mksysb.ts), for the first verify round; dropped once records 1-3 are written again. */
  private early: EarlyChecks | undefined;

  constructor(
    private readonly plan: RunPlan,
    private readonly tape: TapePlan,
    private readonly images: StagedImages,
    private readonly status: RunStatus,
    private readonly operator: Operator,
    desk: CartridgeDesk,
    private readonly runId: string,
  ) {
    this.drive = `${plan.backup.tape.host}:${plan.backup.tape.device}`;
    this.set = new VolumeSet(plan, tape, images, status, operator, desk, runId);
  }

  /**
   * Prepare, write from record k, verify; again from the first bad record until the tape verifies. When record 4
   * fills volume 1, volume 1 is checked and the set goes on with further cartridges (volume-set.ts).
   */
  async writeAndVerify(early?: Exclude<EarlyTape, { kind: 'released' }>): Promise<void> {
    if (this.set.spanning) await this.set.checkStaged();
    // After writes made while mksysb ran (tape-while-mksysb.ts): the records they left count as written.
    let from: RecordNumber | undefined = early ? this.adopt(early) : 1;
    for (;;) {
      if (from !== undefined) {
        await this.prepare();
        await this.writeFrom(from);
      }
      if (this.plan.backup.verify === 'none' && !this.cut) return this.singleVolume();
      const again = await this.verifyRound();
      if (again !== undefined) {
        from = again;
        continue;
      }
      if (!this.cut) return this.singleVolume();
      const restart = await this.set.rest();
      if (restart === undefined) return;
      from = restart.fromRecord;
    }
  }

  /** Takes the records written while mksysb ran as this phase's own; returns the record to go on from, if any. */
  private adopt(early: Exclude<EarlyTape, { kind: 'released' }>): RecordNumber | undefined {
    this.wroteAny = true;
    this.early = early.checked;
    const written: RecordNumber[] = early.kind === 'streamed' ? [1, 2, 3, 4] : [1, 2, 3];
    for (const k of written) this.writes[k] = 1;
    return early.kind === 'streamed' ? undefined : 4;
  }

  /** A set that fit on one cartridge lists that one volume. */
  private singleVolume(): void {
    if (!this.set.spanning) return;
    const rec4 = this.verification?.records.find((r) => r.record === 4);
    this.set.single(rec4?.actual ?? this.images.image(4).sha256, this.writes[4] ?? 0);
  }

  private async prepare(): Promise<void> {
    const { plan, drive, status } = this;
    this.generation += 1;
    status.show('tape-prepare', `preparing ${drive}: extfm=yes, block size 512, rewind`);
    // Only a cartridge this run has not written yet is checked for being blank.
    const checkBlank = !this.wroteAny;
    const summary = `prepare ${drive} (extfm, block size 512, rewind${checkBlank ? ', blank check' : ''})`;
    await status.timed('tape-prepare', () =>
      this.operator.withOperatorRetry('tape-prepare', () => stageActivities(plan, 'tape-prepare', summary).prepareTape(plan, { checkBlank })),
    );
  }

  /** Records k..4, each positioned absolutely; after a failure the operator may choose an earlier record to resume at. */
  private async writeFrom(from: RecordNumber): Promise<void> {
    let k = from;
    await this.status.timed('tape-write', async () => {
      while (k <= 4) {
        try {
          await this.write(this.tape.records[k - 1]!);
          k = (k + 1) as RecordNumber;
        } catch (err) {
          this.wroteAny = true;
          const req = await this.operator.ask('tape-write', err, k);
          k = req.fromRecord && req.fromRecord >= 1 && req.fromRecord <= k ? (req.fromRecord as RecordNumber) : k;
          this.generation += 1;
        }
      }
    });
  }

  private async write(rec: RecordPlan): Promise<void> {
    const { plan, drive, status } = this;
    const k = rec.record;
    status.show('tape-write', `writing record ${k}/4 (${rec.name}, ${formatBytes(rec.bytes)}) to ${drive}`, { record: k, bytesTotal: rec.bytes });
    const spanning = k === 4 && this.set.spanning;
    const done = await stageActivities(plan, 'tape-write', `write record ${k}/4, ${rec.name}, ${formatBytes(rec.bytes)}, to ${drive}`).writeRecord(
      plan,
      k,
      `${this.runId.slice(0, 8)}-g${this.generation}`,
      k === 3 ? undefined : this.images.image(k),
      { spanning },
    );
    if (k === 4) this.cut = done.endOfMedium === true;
    // A record written again erases what follows it, and a record 4 that filled the cartridge is checked by volume:
    // the checks made while mksysb ran no longer say what is on tape.
    if (k <= 3 || this.cut) this.early = undefined;
    else if (this.early) this.early = { head: this.early.head };
    this.wroteAny = true;
    this.writes[k] = (this.writes[k] ?? 0) + 1;
    status.progress.recordsWritten.push(k);
  }

  /** One verify round: undefined when the tape verified, else the record to rewrite from. */
  private async verifyRound(): Promise<RecordNumber | undefined> {
    const { plan, drive, status } = this;
    const { backup } = plan;
    const full = backup.verify === 'full';
    // On AIX a full verification checks the archive with restore in the same pass as record 4's read-back.
    status.show('verify', full ? `verifying ${drive}: reading back records 1-4 and checking the archive` : `verifying ${drive}: lsmksysb -V`);
    const summary = full ? `verify ${drive}: read back 4 records, check the archive` : `verify ${drive}: lsmksysb -V`;
    const verification = await status.timed('verify', () => (this.cut ? this.verifyVolumeOne() : this.early ? this.verifyAfterEarly() : this.verifyTape(summary)));
    this.verification = verification;
    const bad = verification.records.find((r) => !r.ok);
    const lsFailed = verification.lsmksysb === false;
    if (!bad && !lsFailed && verification.install?.ok !== false) return undefined;
    if (!bad && !lsFailed) return await this.wouldNotInstall(verification.install!.detail);
    this.verifyRounds += 1;
    const why = bad ? `record ${bad.record}: ${bad.detail ?? 'mismatch'}` : `lsmksysb -V failed: ${verification.lsmksysbDetail ?? ''}`;
    status.progress.lastError = `verification failed: ${why}`;
    const firstBad: RecordNumber = bad ? bad.record : 4;
    // A round whose cause was found and fixed (a staged copy moved again) does not count against the retries.
    if (await this.restageChangedFrom(firstBad)) this.verifyRounds -= 1;
    if (this.verifyRounds < backup.retry.maxAttempts) return firstBad;
    const req = await this.operator.ask('verify', ApplicationFailure.nonRetryable(`verification failed: ${why}`, 'VerificationFailed'), firstBad);
    this.verifyRounds = 0;
    return (req.fromRecord && req.fromRecord >= 1 && req.fromRecord <= 4 ? req.fromRecord : firstBad) as RecordNumber;
  }

  /**
   * Every record read back as staged, yet record 2 would not install: writing the same images again cannot help, so
   * the operator decides at once (a `retry` rewrites from record 2, or from the record it names).
   */
  private async wouldNotInstall(why: string): Promise<RecordNumber> {
    this.status.progress.lastError = `verification failed: the tape would not install: ${why}`;
    const req = await this.operator.ask('verify', ApplicationFailure.nonRetryable(`verification failed: the tape would not install: ${why}`, 'VerificationFailed'), 2);
    this.verifyRounds = 0;
    return (req.fromRecord && req.fromRecord >= 1 && req.fromRecord <= 4 ? req.fromRecord : 2) as RecordNumber;
  }

  private verifyTape(summary: string, records?: RecordNumber[]): Promise<VerifyOutcome> {
    const { plan } = this;
    return this.operator.withOperatorRetry('verify', () =>
      stageActivities(plan, 'verify', summary).verifyTape(plan, this.images.all(), { records }),
    );
  }

  /**
   * The first round after checks made while mksysb ran: records 1-3 as they were read back then, and record 4's check,
   * made when the stream ended or (a stream that fell back, a check that failed) now.
   */
  private async verifyAfterEarly(): Promise<VerifyOutcome> {
    const { head, record4 } = this.early!;
    this.early = undefined;
    const what = this.plan.backup.verify === 'full' ? 'read back record 4, check the archive' : 'lsmksysb -V';
    const tail = (await record4) ?? (await this.verifyTape(`verify ${this.drive}: ${what} (records 1-3 checked while mksysb ran)`, [4]));
    return { ...tail, ...(head.install ? { install: head.install } : {}), records: [...head.records, ...tail.records] };
  }

  /**
   * Volume 1 of a set that goes on to further cartridges: records 1-3 read back (verify "full"), and record 4's share
   * read back once for its size and compared with the same bytes of the staged image (any level: the next volume
   * starts after what it holds).
   */
  private async verifyVolumeOne(): Promise<VerifyOutcome> {
    const { plan, drive } = this;
    const full = plan.backup.verify === 'full';
    this.status.show('verify', `verifying volume 1 in ${drive}: ${full ? 'records 1-3 read back, ' : ''}record 4's share read back`, { volume: 1 });
    const head = full ? await this.verifyTape(`verify volume 1 in ${drive}: read back records 1-3`, [1, 2, 3]) : { lsmksysb: null, records: [] };
    const rec4 = await this.set.volumeOne(this.writes[4] ?? 0);
    return { ...head, lsmksysb: null, records: [...head.records, rec4] };
  }

  /** Moves again every staged copy of record `from` on that changed since it was moved; true when one did. */
  private async restageChangedFrom(from: RecordNumber): Promise<boolean> {
    const { plan } = this;
    let restaged = false;
    for (const img of this.images.all()) {
      if (img.record < from) continue;
      const summary = `check the staged ${this.tape.records[img.record - 1]!.name}`;
      const ok = await this.operator.withOperatorRetry('transfer', () => stageActivities(plan, 'transfer', summary).checkStagedImage(plan, img));
      if (!ok) {
        await this.images.move(img);
        restaged = true;
      }
    }
    return restaged;
  }
}
