/**
 * Moving a staged image from the source host to the tape host, resumable at the bytes the tape host already holds and
 * checked against the source's SHA-256 at the end, in one of two ways: pulled by the tape host itself when the
 * inventory says it may log in to the source (`pullFrom`, direct-pull.ts), relayed through the worker otherwise or
 * when that pull cannot log in (relay.ts, saying why in `directFailed`). The copy, its resume point and its check are
 * in staged-copy.ts; following the mksysb image while it grows in follow.ts.
 */
import { pullRoute } from '../../schema';
import { images, record } from '../../tape';
import { warn } from '../context';
import type { ActivityHosts } from '../hosts';
import { describeImage } from '../images';
import type { FollowOutcome, RunPlan, StagedImage, TransferOutcome } from '../types';
import { earlierPull, pullImage } from './direct-pull';
import { followImage } from './follow';
import { relayImage } from './relay';
import { alreadyThere, checkCopy, copyPath, moved, resumePoint, survey } from './staged-copy';

export function transferActivities(hosts: ActivityHosts) {
  return {
    async transferImage(plan: RunPlan, image: StagedImage): Promise<TransferOutcome> {
      const { backup } = plan;
      const tapeHost = backup.tape.host;
      const target = copyPath(plan, image.file);
      const route = pullRoute(await hosts.inventory(), tapeHost, backup.source);
      const found = await survey(hosts, plan, target, image.record);
      const attach = await earlierPull(hosts, plan, image.record, found.pull, route !== undefined);
      const offset = attach ?? (await resumePoint(hosts, plan, image, target, found));
      if (offset === null) return alreadyThere(image, route ? 'direct' : 'relay');

      let directFailed: string | undefined;
      if (route) {
        const pulled = await pullImage(hosts, plan, image, route, offset, target, attach !== null);
        if (!('refused' in pulled)) {
          await checkCopy(hosts, plan, image, target, pulled.sha256 !== undefined ? { bytes: pulled.size, sha256: pulled.sha256 } : undefined);
          return moved(image, 'direct', offset, pulled.size - offset);
        }
        directFailed = pulled.refused;
        warn(`${tapeHost} cannot pull the ${record(image.record).name} from ${backup.source} itself (${directFailed}); relaying it through the worker`);
      }
      const { sent, via } = await relayImage(hosts, plan, image, target, offset);
      return { ...moved(image, 'relay', offset, sent, directFailed), relayedBy: via };
    },

    /** `sealStream`: the generation of a stream of record 4 to seal once the copy holds the whole image. */
    followImage(plan: RunPlan, opts: { sealStream?: string } = {}): Promise<FollowOutcome> {
      return followImage(hosts, plan, opts);
    },

    /** Is the staged copy on the tape host still the source's image? (After a failed read-back.) */
    async checkStagedImage(plan: RunPlan, image: StagedImage): Promise<boolean> {
      const target = copyPath(plan, image.file);
      const have = images.parseSizeOrAbsent(
        (await hosts.run(plan.backup.tape.host, `size of ${target}`, images.fileSizeOrAbsent(target))).stdout,
      );
      if (have !== image.bytes) return false;
      const there = await describeImage(hosts, plan.backup.tape.host, plan.tapeOs, image.record, target);
      return there.sha256 === image.sha256;
    },
  };
}
