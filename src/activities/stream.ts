/**
 * Record 4 streamed to the drive while mksysb still writes the image (`writeWhileMksysb`, src/tape/stream.ts): the
 * tape host feeds its staged copy to the drive as the copy grows; the follow of the image seals the stream once the
 * copy holds every byte mksysb wrote, and the write ends with the last bytes. Detached and fenced like every
 * record write, so a lost worker's successor re-attaches to the running stream instead of starting a second one.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { digest, driverFor, layout, stagedPath, stream, volumes } from '../tape';
import { reachedEnd } from './drive-checks';
import { FencedDrive } from './drive-fence';
import type { ActivityHosts } from './hosts';
import type { RunPlan } from './types';

export interface StreamedRecord {
  /** SHA-256 of the image bytes the stream sent to the drive (padding not included). */
  sha256: string;
  /** The image size the seal named (what the stream sent before the padding); absent from a stream without a seal. */
  bytes?: number;
  reattached: boolean;
}

function files(plan: RunPlan, generation: string): stream.StreamFiles {
  return stream.streamFiles(plan.stagingTape, stagedPath(plan.stagingTape, 4), streamName(generation));
}

function streamName(generation: string): string {
  return `stream-r4-${generation}`;
}

/**
 * The seal of a stream: the copy holds the whole image (`bytes`), and record 4 is padded with NULs to its block size.
 * The follow of the image writes it (transfer/follow.ts) once mksysb has ended and its last bytes are moved.
 */
export function sealCommand(plan: RunPlan, generation: string, bytes: number): string {
  const onTape = layout.planRecord(4, bytes, plan.backup.record4BlockSize, plan.stagingTape);
  return stream.sealStream(files(plan, generation), bytes, onTape.bytes - bytes);
}

export function streamActivities(hosts: ActivityHosts) {
  return {
    /** Writes record 4 from the growing staged copy until the stream is sealed; returns what it sent. */
    async streamRecord4(plan: RunPlan, generation: string): Promise<StreamedRecord> {
      const { backup, stagingTape } = plan;
      const dev = backup.tape.device;
      const name = streamName(generation);
      const f = files(plan, generation);
      const bs = layout.blockSizeFor(4, backup.record4BlockSize);
      const drive = await FencedDrive.claim(hosts, plan, { keep: name });
      // An end of medium is told apart from other failures: writing the stream again would only fill the cartridge
      // again; the workflow writes record 4 from the staged copy instead, which can go on to a next cartridge.
      const eomFile = volumes.endOfMediumFile(stagingTape, name);
      const cmd = drive.detached(name, volumes.endOfMediumIsResult(stream.streamRecord4(plan.tapeOs, driverFor(plan.tapeOs), dev, bs, f), eomFile));
      const r = await hosts.runDetached(
        backup.tape.host,
        `stream record 4 to ${backup.tape.host}:${dev} as mksysb writes it`,
        stagingTape,
        name,
        cmd,
        (elapsedMs, bytesDone) => ({ stage: 'tape-write', record: 4, elapsedMs, ...(bytesDone !== undefined ? { bytesDone } : {}) }),
        f.copy,
      );
      if (await reachedEnd(hosts, plan, eomFile)) {
        throw ApplicationFailure.nonRetryable(`the cartridge in ${backup.tape.host}:${dev} reached its end of medium during the stream of record 4`, 'EndOfMedium');
      }
      const sent = await hosts.run(backup.tape.host, `the SHA-256 of what ${name} sent`, stream.readDigest(f));
      let sha256: string;
      try {
        sha256 = digest.parseSha256(sent.stdout);
      } catch {
        throw ApplicationFailure.retryable(`the stream of record 4 on ${backup.tape.host} ended without its SHA-256`, 'CommandFailed');
      }
      const bytes = stream.parseSealedBytes(sent.stdout);
      return { sha256, ...(bytes !== undefined ? { bytes } : {}), reattached: r.attached };
    },
  };
}
