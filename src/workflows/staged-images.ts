/**
 * The images of a backup, made on the source and moved to the tape host's staging folder, each moved image checked
 * by SHA-256. The mksysb image may also be followed while mksysb still writes it; what that moved is kept only when
 * the tape host's copy ends with the source's size and SHA-256 (each host hashed its own).
 */
import type { Activities, RunPlan, StagedImage, TransferOutcome } from '../activities';
import type { TransferResult } from '../shared/contract';
import { formatBytes } from '../shared/format';
import { RECORDS } from '../tape/layout';
import type { Operator } from './operator';
import type { RunStatus } from './run-status';
import { stageActivities } from './stage-activities';

export type StagedRecord = 1 | 2 | 4;
type Followed = Awaited<ReturnType<Activities['followImage']>>;

export class StagedImages {
  private readonly staged: Partial<Record<StagedRecord, StagedImage>> = {};

  constructor(
    private readonly plan: RunPlan,
    private readonly status: RunStatus,
    private readonly operator: Operator,
  ) {}

  /** Runs `command` (in words, for the summary) on the source to make record k's image. */
  async make(record: StagedRecord, command: string): Promise<StagedImage> {
    const { plan } = this;
    const img = await this.operator.withOperatorRetry(
      'images',
      () => stageActivities(plan, 'images', `${command} on ${plan.backup.source}`).makeImage(plan, record),
      record,
    );
    this.staged[record] = img;
    return img;
  }

  /** Moves an image to the tape host (resuming at what is there) and notes how it went. */
  async move(img: StagedImage): Promise<TransferOutcome> {
    const { plan } = this;
    const { backup } = plan;
    const moved = await this.operator.withOperatorRetry(
      'transfer',
      () =>
        stageActivities(plan, 'transfer', `move ${RECORDS[img.record - 1]!.name}, ${formatBytes(img.bytes)}, ${backup.source} → ${backup.tape.host}`)
          .transferImage(plan, img),
      img.record,
    );
    this.status.moved(transferResult(moved));
    return moved;
  }

  /**
   * Follows the mksysb image as it grows. Best effort: whatever goes wrong there, `finishMksysb` moves it.
   * `sealStream`: the stream of record 4 (writeWhileMksysb) to seal once the copy holds every byte.
   */
  follow(sealStream?: string): Promise<Followed | null> {
    const { plan } = this;
    const act = stageActivities(plan, 'transfer', `follow the mksysb image as it grows, ${plan.backup.source} → ${plan.backup.tape.host}`);
    return (sealStream === undefined ? act.followImage(plan) : act.followImage(plan, { sealStream })).catch(() => null);
  }

  /** Once mksysb has ended: notes what following it moved, and moves the image the ordinary way unless that sufficed. */
  async finishMksysb(followed: Followed | null): Promise<void> {
    const mksysb = this.image(4);
    const there = followed?.complete === true && followed.bytes === mksysb.bytes && followed.sha256 === mksysb.sha256;
    if (followed && (followed.rounds > 0 || followed.directFailed !== undefined)) {
      this.status.transfers.push({
        record: 4,
        mode: followed.mode,
        bytesSent: followed.bytesSent,
        resumedFrom: followed.resumedFrom,
        alreadyThere: false,
        followed: there,
        ...(followed.directFailed !== undefined ? { directFailed: followed.directFailed } : {}),
        ...(followed.relayedBy !== undefined ? { relayedBy: followed.relayedBy } : {}),
      });
    }
    if (there) return;
    this.status.show('transfer', `moving the mksysb image (${formatBytes(mksysb.bytes)}) to ${this.plan.backup.tape.host}`, {
      record: 4,
      bytesTotal: mksysb.bytes,
    });
    await this.status.timed('transfer', () => this.move(mksysb));
  }

  /** Record k's image; made before it is asked for. */
  image(record: StagedRecord): StagedImage {
    return this.staged[record]!;
  }

  /** Records 1, 2 and 4, in tape order. */
  all(): StagedImage[] {
    return [this.image(1), this.image(2), this.image(4)];
  }

  /** Each image's size, for the plan of the tape. */
  sizes(): Record<StagedRecord, number> {
    return { 1: this.image(1).bytes, 2: this.image(2).bytes, 4: this.image(4).bytes };
  }
}

/** What the result says of one move (the outcome without its byte total, which the records carry). */
function transferResult(o: TransferOutcome): TransferResult {
  return {
    record: o.record,
    mode: o.mode,
    bytesSent: o.bytesSent,
    resumedFrom: o.resumedFrom,
    alreadyThere: o.alreadyThere,
    ...(o.directFailed !== undefined ? { directFailed: o.directFailed } : {}),
    ...(o.relayedBy !== undefined ? { relayedBy: o.relayedBy } : {}),
  };
}

/** Like Promise.all, but waits for every promise to settle, then throws the first failure. */
export async function settleAll<T extends readonly unknown[]>(ps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}
