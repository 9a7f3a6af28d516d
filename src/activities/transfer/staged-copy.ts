/**
 * The tape host's copy of a staged image: where it is, how much of it an earlier attempt left (the survey), where a
 * move resumes, whether what arrived is the source's image, and what a move reports.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { TransferMode } from '../../shared/contract';
import { formatBytes } from '../../shared/format';
import { images, record, shell, transfer } from '../../tape';
import { heartbeat } from '../context';
import type { ActivityHosts } from '../hosts';
import { describeImage } from '../images';
import type { RunPlan, StagedImage, TransferOutcome } from '../types';

/** The copy's path: the image's file name in the tape host's staging folder. */
export function copyPath(plan: RunPlan, file: string): string {
  return shell.joinPath(plan.stagingTape, file.slice(file.lastIndexOf('/') + 1));
}

/** What the tape host's staging folder holds for record `rec`: the copy's size, a marked pull, the free space. */
export async function survey(hosts: ActivityHosts, plan: RunPlan, target: string, rec: number): Promise<transfer.Survey> {
  const { stagingTape } = plan;
  return transfer.parseSurvey((await hosts.run(plan.backup.tape.host, `staging folder ${stagingTape}`, transfer.survey(stagingTape, target, rec))).stdout);
}

/**
 * The byte a move resumes from, or null when the copy is already the source's image. The resume point is what the
 * tape host really holds (a valid prefix: every writer appends in order), which is at or past the offset the last
 * attempt heartbeated; a longer or complete-but-wrong file is moved again from 0. Refuses when the rest cannot fit.
 */
export async function resumePoint(hosts: ActivityHosts, plan: RunPlan, image: StagedImage, target: string, found: transfer.Survey): Promise<number | null> {
  const tapeHost = plan.backup.tape.host;
  const have = found.size;
  if (have === image.bytes) {
    const there = await describeImage(hosts, tapeHost, plan.tapeOs, image.record, target);
    if (there.sha256 === image.sha256) return null;
  }
  const offset = have === null || have >= image.bytes ? 0 : have;
  const need = image.bytes - offset;
  const free = found.df.freeKiB * 1024;
  if (free < need - Math.max(0, (have ?? 0) - offset)) {
    throw ApplicationFailure.nonRetryable(
      `work folder ${plan.stagingTape} on ${tapeHost} has ${formatBytes(free)} free but the ${record(image.record).name} needs ${formatBytes(need)} more`,
      'StagingFolderFull',
    );
  }
  return offset;
}

/**
 * The bytes arrived: compares the copy with the source's size and SHA-256 (read again unless the writing command
 * `hashed` it). A copy that differs is removed and the attempt fails, so that the next one starts from zero.
 */
export async function checkCopy(
  hosts: ActivityHosts,
  plan: RunPlan,
  image: StagedImage,
  target: string,
  hashed: { bytes: number; sha256: string } | undefined,
): Promise<void> {
  const tapeHost = plan.backup.tape.host;
  const arrived = hashed ?? (await describeImage(hosts, tapeHost, plan.tapeOs, image.record, target));
  if (arrived.bytes === image.bytes && arrived.sha256 === image.sha256) return;
  await hosts.run(tapeHost, `remove ${target}`, images.removeFile(target));
  heartbeat({ stage: 'transfer', record: image.record, bytesDone: 0, bytesTotal: image.bytes, offset: 0 });
  throw ApplicationFailure.retryable(
    `${record(image.record).name} on ${tapeHost} does not match the source: ${arrived.bytes} bytes, SHA-256 ${arrived.sha256}; ` +
      `expected ${image.bytes} bytes, SHA-256 ${image.sha256}`,
    'ChecksumMismatch',
  );
}

/** The outcome of an image found on the tape host already; `mode` is the way it would have moved. */
export function alreadyThere(image: StagedImage, mode: TransferMode): TransferOutcome {
  return { record: image.record, bytes: image.bytes, bytesSent: 0, resumedFrom: image.bytes, alreadyThere: true, mode };
}

/** The outcome of a move that sent `bytesSent` bytes from `resumedFrom` on. */
export function moved(image: StagedImage, mode: TransferMode, resumedFrom: number, bytesSent: number, directFailed?: string): TransferOutcome {
  return {
    record: image.record,
    bytes: image.bytes,
    bytesSent,
    resumedFrom,
    alreadyThere: false,
    mode,
    ...(directFailed !== undefined ? { directFailed } : {}),
  };
}
