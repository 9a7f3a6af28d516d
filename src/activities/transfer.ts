/**
 * Moving a staged image from the source host to the tape host, relayed through the worker over its two SSH
 * connections: streaming (memory bounded by the channel windows, whatever the size), resumable at the last byte
 * offset that reached the tape host (heartbeated, and cross-checked with the file's size there), and checked against
 * the source's SHA-256 at the end.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { relay } from '../ssh';
import { images, shell, transfer } from '../tape';
import { describeImage } from './images';
import { heartbeat, mapSshErrors, commandFailure, cancellationSignal, type Runtime } from './runtime';
import type { ProgressBeat, RunPlan, StagedImage, TransferOutcome } from './types';

export function transferActivities(rt: Runtime) {
  return {
    async transferImage(plan: RunPlan, image: StagedImage): Promise<TransferOutcome> {
      const { backup, stagingTape } = plan;
      const tapeHost = backup.tape.host;
      const target = shell.joinPath(stagingTape, image.file.slice(image.file.lastIndexOf('/') + 1));
      await rt.run(tapeHost, `create ${stagingTape}`, images.mkdirP(stagingTape));
      const have = images.parseSizeOrAbsent((await rt.run(tapeHost, `size of ${target}`, images.fileSizeOrAbsent(target))).stdout);

      if (have === image.bytes) {
        const there = await describeImage(rt, tapeHost, plan.tapeOs, image.record, target);
        if (there.sha256 === image.sha256) {
          return { record: image.record, bytes: image.bytes, bytesSent: 0, resumedFrom: image.bytes, alreadyThere: true };
        }
      }
      // Resume point: what the tape host really holds (a valid prefix: `cat >>` appends in order), which is at or
      // past the offset the last attempt heartbeated; a longer or complete-but-wrong file is moved again from 0.
      const offset = have === null || have >= image.bytes ? 0 : have;

      const need = image.bytes - offset;
      const df = images.parseDf((await rt.run(tapeHost, `free space in ${stagingTape}`, images.freeSpace(stagingTape))).stdout);
      if (df.freeKiB * 1024 < need - Math.max(0, (have ?? 0) - offset)) {
        throw ApplicationFailure.nonRetryable(
          `work folder ${stagingTape} on ${tapeHost} has ${fmt(df.freeKiB * 1024)} free but the ${recordName(image.record)} needs ${fmt(need)} more`,
          'StagingFolderFull',
        );
      }

      const src = await rt.host(backup.source);
      const dst = await rt.host(tapeHost);
      const progress = (sent: number): ProgressBeat => ({
        stage: 'transfer',
        record: image.record,
        bytesDone: offset + sent,
        bytesTotal: image.bytes,
        offset: offset + sent,
      });
      heartbeat({ ...progress(0) });
      const res = await mapSshErrors(() =>
        relay(src, transfer.readFrom(image.file, offset), dst, transfer.writeFrom(target, offset), {
          signal: cancellationSignal(),
          onProgress: (sent) => heartbeat({ ...progress(sent) }),
        }),
      );
      if (res.source.code !== 0) throw commandFailure(backup.source, `read ${image.file}`, { ...res.source, stdout: '', code: res.source.code });
      if (res.destination.code !== 0) {
        throw commandFailure(tapeHost, `write ${target}`, { ...res.destination, stdout: '', code: res.destination.code });
      }
      const arrived = await describeImage(rt, tapeHost, plan.tapeOs, image.record, target);
      if (arrived.bytes !== image.bytes || arrived.sha256 !== image.sha256) {
        // Start the next attempt from zero: the bytes there cannot be trusted.
        await rt.run(tapeHost, `remove ${target}`, images.removeFile(target));
        heartbeat({ ...progress(0), offset: 0 });
        throw ApplicationFailure.retryable(
          `${recordName(image.record)} on ${tapeHost} does not match the source: ${arrived.bytes} bytes, SHA-256 ${arrived.sha256}; ` +
            `expected ${image.bytes} bytes, SHA-256 ${image.sha256}`,
          'ChecksumMismatch',
        );
      }
      return { record: image.record, bytes: image.bytes, bytesSent: res.bytes, resumedFrom: offset, alreadyThere: false };
    },

    /** Is the staged copy on the tape host still the source's image? (After a failed read-back.) */
    async checkStagedImage(plan: RunPlan, image: StagedImage): Promise<boolean> {
      const target = shell.joinPath(plan.stagingTape, image.file.slice(image.file.lastIndexOf('/') + 1));
      const have = images.parseSizeOrAbsent(
        (await rt.run(plan.backup.tape.host, `size of ${target}`, images.fileSizeOrAbsent(target))).stdout,
      );
      if (have !== image.bytes) return false;
      const there = await describeImage(rt, plan.backup.tape.host, plan.tapeOs, image.record, target);
      return there.sha256 === image.sha256;
    },
  };
}

function recordName(record: number): string {
  return record === 1 ? 'boot image' : record === 2 ? 'install image' : 'mksysb image';
}

export function fmt(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} bytes` : `${v.toFixed(1)} ${units[i]}`;
}
