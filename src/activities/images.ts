/**
 * The source host's images: boot image (`bosboot`), install image (`mkinsttape`), system backup (`mksysb`), each run
 * detached in the backup's staging folder so that a retried attempt re-attaches to a running command or takes its
 * finished result: a finished mksysb is never run again for the same backup. Then the image's size and SHA-256.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { images, stagedPath, type HostOs } from '../tape';
import type { ActivityHosts } from './hosts';
import type { RunPlan, StagedImage } from './types';

const NAMES = { 1: 'bosboot', 2: 'mkinsttape', 4: 'mksysb' } as const;

export function imageActivities(hosts: ActivityHosts) {
  return {
    async makeImage(plan: RunPlan, record: 1 | 2 | 4): Promise<StagedImage> {
      const { backup, stagingSource: dir } = plan;
      const file = stagedPath(dir, record);
      const cmd =
        record === 1
          ? images.bosboot(backup.bootDevice, file)
          : record === 2
            ? images.mkinsttapeForBlockSize(file, backup.record4BlockSize)
            : images.mksysb(backup.mksysbFlags, file);
      await hosts.runDetached(
        backup.source,
        NAMES[record],
        dir,
        NAMES[record],
        cmd,
        (elapsedMs, bytesDone) => ({ stage: 'images', record, elapsedMs, bytesDone }),
        file,
      );
      return await describeImage(hosts, backup.source, 'aix', record, file);
    },
  };
}

/** Size and SHA-256 of an image file on a host. */
export async function describeImage(
  hosts: ActivityHosts,
  hostName: string,
  os: HostOs,
  record: 1 | 2 | 4,
  file: string,
): Promise<StagedImage> {
  const size = images.parseSize((await hosts.run(hostName, `size of ${file}`, images.fileSize(file))).stdout);
  if (size === 0) throw ApplicationFailure.retryable(`${file} on ${hostName} is empty`, 'EmptyImage');
  const sha256 = images.parseSha256((await hosts.run(hostName, `SHA-256 of ${file}`, images.sha256File(os, file))).stdout);
  return { record, file, bytes: size, sha256 };
}
