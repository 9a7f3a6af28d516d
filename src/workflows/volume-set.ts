/**
 * A backup that spans cartridges (`maxVolumes` above 1), after record 4 reached the end of volume 1: each further
 * volume is written from the start of its cartridge (a fresh FS_VOLUME header, then the next archive bytes), read back
 * once for what reached it (not trusted from dd) and compared with the SHA-256 of what it should hold, before the
 * cartridge is changed. A failure while writing volume k rewrites volume k only; an operator's `retry` may name
 * `{"fromVolume": j}` to go back to volume j (its cartridge is asked for again). See AIX-TAPE.md, "Backups larger
 * than one cartridge".
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { RecordCheck, RunPlan, VolumeMeasure, VolumeSpan } from '../activities';
import type { VolumeResult } from '../shared/contract';
import { formatBytes } from '../shared/format';
import type { RecordNumber, TapePlan } from '../tape/layout';
import { VOLUME_HEADER_BYTES, lastBlockPadding, planVolumes } from '../tape/volumes';
import type { CartridgeDesk } from './cartridges';
import type { Operator } from './operator';
import type { RunStatus } from './run-status';
import { stageActivities } from './stage-activities';
import type { StagedImages } from './staged-images';

/** Volume 1 has to be written again, from this record (an operator's `{"fromVolume": 1}`). */
export interface RestartVolumeOne {
  fromRecord: RecordNumber;
}

export class VolumeSet {
  /** The volumes written and checked so far, in order. */
  readonly volumes: VolumeResult[] = [];
  /** `lsmksysb -V` of the staged image, run before volume 1 of a set that may span cartridges. */
  stagedCheck: { ok: boolean | null; detail: string } | undefined;
  private readonly writes: Record<number, number> = {};
  private generation = 0;
  private allowed: number;
  private readonly drive: string;

  constructor(
    private readonly plan: RunPlan,
    private readonly tape: TapePlan,
    private readonly images: StagedImages,
    private readonly status: RunStatus,
    private readonly operator: Operator,
    private readonly desk: CartridgeDesk,
    private readonly runId: string,
  ) {
    this.allowed = plan.backup.maxVolumes ?? 1;
    this.drive = `${plan.backup.tape.host}:${plan.backup.tape.device}`;
  }

  /** The backup may span cartridges. */
  get spanning(): boolean {
    return this.allowed > 1;
  }

  private get archiveBytes(): number {
    return this.images.image(4).bytes;
  }

  /** `lsmksysb -V` on the staged image (it cannot cross volumes on tape without a terminal); a bad archive stops here. */
  async checkStaged(): Promise<void> {
    const { plan, status } = this;
    if (plan.backup.verify === 'none' || this.stagedCheck?.ok) return;
    status.show('verify', `lsmksysb -V on the staged mksysb image on ${plan.backup.tape.host}, before volume 1`);
    await this.operator.withOperatorRetry('verify', async () => {
      const check = await stageActivities(plan, 'verify', 'lsmksysb -V on the staged mksysb image').checkStagedArchive(plan);
      this.stagedCheck = check;
      if (check.ok === false) throw ApplicationFailure.nonRetryable(`lsmksysb -V of the staged mksysb image failed: ${check.detail}`, 'VerificationFailed');
    });
  }

  /**
   * Volume 1's share of record 4, after its write reached the end of the cartridge: read back for its size and
   * SHA-256, compared with the same bytes of the staged image. The check joins the verification's record checks.
   */
  async volumeOne(writes: number): Promise<RecordCheck> {
    const m = await this.measure(1);
    const check: RecordCheck = { record: 4, expected: '', actual: m.sha256, ok: false };
    if (!m.ok || m.bytes <= 0 || m.bytes % 8 !== 0 || m.bytes >= this.archiveBytes) {
      check.detail = m.ok ? `volume 1 holds ${m.bytes} bytes of record 4, which cannot be a cut of a ${this.archiveBytes}-byte archive` : m.detail;
      return check;
    }
    const span: VolumeSpan = { volume: 1, from: 0, length: m.bytes, padding: 0 };
    check.expected = await this.expected(span);
    check.ok = check.expected === m.sha256;
    if (!check.ok) check.detail = `SHA-256 of volume 1's ${formatBytes(m.bytes)} of record 4 on tape ${m.sha256}, expected ${check.expected}`;
    this.volumes.length = 0;
    this.volumes.push(this.result(span, this.tape.records[3]!.bytes, m, true, writes));
    return check;
  }

  /** A set that fit on volume 1 after all: one volume, as the records' verification found it. */
  single(sha256: string, writes: number): void {
    const bytes = this.tape.records[3]!.bytes;
    this.volumes.length = 0;
    this.volumes.push({ volume: 1, from: 0, archiveBytes: this.archiveBytes, tapeBytes: bytes, sha256, endOfMedium: false, writes });
  }

  /** Volumes 2.. after volume 1: undefined when the set is complete, or where volume 1 must be written again. */
  async rest(): Promise<RestartVolumeOne | undefined> {
    let k = 2;
    while (this.nextFrom(k) < this.archiveBytes) {
      if (k > this.allowed) await this.askForMore(k);
      await this.desk.change(this.plan, k, this.volumesLeft(k));
      const back = await this.write(k);
      if (back === 1) return await this.backToVolumeOne();
      k = back ?? k + 1;
    }
    return undefined;
  }

  /** Where volume k starts in the archive: after what volumes 1..k-1 hold. */
  private nextFrom(k: number): number {
    const prev = this.volumes[k - 2];
    return prev ? prev.from + prev.archiveBytes : 0;
  }

  private volumesLeft(k: number): number {
    const planned = planVolumes(this.tape, this.plan.capacityBytes).needed;
    return Number.isFinite(planned) ? Math.max(0, planned - k) : 0;
  }

  /** Volume k, rewritten until it reads back right: undefined when done, or the volume an operator sent the run back to. */
  private async write(k: number): Promise<number | undefined> {
    const { plan, status } = this;
    const from = this.nextFrom(k);
    const rest = this.archiveBytes - from;
    const padding = lastBlockPadding(VOLUME_HEADER_BYTES + rest, this.tape.records[3]!.blockSize);
    let rounds = 0;
    for (;;) {
      this.generation += 1;
      try {
        this.volumes.length = k - 1;
        status.progress.volume = k;
        status.show('tape-write', `writing volume ${k} (record 4 from ${formatBytes(from)} of ${formatBytes(this.archiveBytes)}) to ${this.drive}`, {
          record: 4,
          volume: k,
        });
        const span: VolumeSpan = { volume: k, from, length: null, padding };
        const w = await status.timed('tape-write', () =>
          stageActivities(plan, 'tape-write', `write volume ${k}, record 4 from byte ${from}, to ${this.drive}`).writeVolume(
            plan,
            span,
            `${this.runId.slice(0, 8)}-g${this.generation}`,
          ),
        );
        this.writes[k] = (this.writes[k] ?? 0) + 1;
        if (!w.endOfMedium && plan.backup.verify === 'none') {
          this.volumes.push(this.result(span, VOLUME_HEADER_BYTES + rest + padding, undefined, false, this.writes[k]!));
          return undefined;
        }
        const m = await this.measure(k);
        if (!m.ok) throw ApplicationFailure.retryable(`reading volume ${k} back failed: ${m.detail ?? ''}`, 'VerificationFailed');
        const held = w.endOfMedium ? { ...span, length: m.bytes - VOLUME_HEADER_BYTES, padding: 0 } : span;
        if (w.endOfMedium && (held.length ?? 0) <= 0) {
          throw ApplicationFailure.nonRetryable(`the cartridge for volume ${k} in ${this.drive} filled up after ${m.bytes} bytes: it holds no archive data`, 'EndOfMedium');
        }
        const expected = await this.expected(held);
        if (expected === m.sha256 && (w.endOfMedium || m.bytes === VOLUME_HEADER_BYTES + rest + padding)) {
          this.volumes.push(this.result(held, m.bytes, m, w.endOfMedium, this.writes[k]!));
          return undefined;
        }
        rounds += 1;
        const why = `volume ${k} read back ${m.bytes} bytes with SHA-256 ${m.sha256}, expected ${expected}`;
        status.progress.lastError = `verification failed: ${why}`;
        if (rounds < plan.backup.retry.maxAttempts) continue;
        throw ApplicationFailure.nonRetryable(`verification failed: ${why}`, 'VerificationFailed');
      } catch (err) {
        const req = await this.operator.ask('tape-write', err, 4);
        rounds = 0;
        if (req.fromVolume !== undefined && req.fromVolume >= 1 && req.fromVolume < k) return req.fromVolume;
      }
    }
  }

  /** An operator sent the run back to volume 1: its cartridge is asked for, and records are written from the given one. */
  private async backToVolumeOne(): Promise<RestartVolumeOne> {
    this.volumes.length = 0;
    await this.desk.change(this.plan, 1, this.volumesLeft(1));
    return { fromRecord: 4 };
  }

  /** The set needs more cartridges than `maxVolumes`: an operator's `retry` allows one more, `abort` stops. */
  private async askForMore(k: number): Promise<void> {
    const left = this.archiveBytes - this.nextFrom(k);
    await this.operator.ask(
      'tape-write',
      ApplicationFailure.nonRetryable(
        `the backup needs more than its maxVolumes of ${this.allowed} cartridges: ${formatBytes(left)} of the mksysb image are left after ` +
          `volume ${k - 1} (the cartridges hold less than planned). Retry to write volume ${k} on one more cartridge, or abort`,
        'TooManyVolumes',
      ),
      4,
    );
    this.allowed = k;
  }

  private measure(volume: number): Promise<VolumeMeasure> {
    return this.operator.withOperatorRetry('verify', () =>
      stageActivities(this.plan, 'verify', `read back volume ${volume} in ${this.drive}`).measureVolume(this.plan, volume),
    );
  }

  private expected(span: VolumeSpan): Promise<string> {
    return this.operator.withOperatorRetry('verify', () =>
      stageActivities(this.plan, 'verify', `SHA-256 of volume ${span.volume} from the staged image`).expectedVolumeSha(this.plan, span),
    );
  }

  private result(span: VolumeSpan, tapeBytes: number, m: VolumeMeasure | undefined, endOfMedium: boolean, writes: number): VolumeResult {
    return {
      volume: span.volume,
      from: span.from,
      archiveBytes: span.length ?? this.archiveBytes - span.from,
      tapeBytes: m?.bytes ?? tapeBytes,
      sha256: m?.sha256 ?? '',
      endOfMedium,
      writes,
    };
  }
}
