/**
 * Moving a staged image from the source host to the tape host, relayed through the worker over its two SSH
 * connections: streaming (memory bounded by the channel windows, whatever the size), resumable at the last byte
 * offset that reached the tape host (heartbeated, and cross-checked with the file's size there), and checked against
 * the source's SHA-256 at the end.
 *
 * `followImage` overlaps the move of the mksysb image with its making: while the detached `mksysb` runs on the source
 * it repeatedly moves what the file holds beyond what the tape host already has (`tail -c +N`, which reads to the
 * current end of the file and stops: AIX's `tail -f` cannot be relied on for a growing file over SSH), and after
 * `mksysb` has exited one last round takes the final bytes. It is an optimisation only: the workflow still compares the
 * tape host's SHA-256 of the whole file with the source's, and falls back to `transferImage` when they differ or when
 * following stopped early (mksysb failed or was restarted, which rewrites the file from its start).
 */
import { ApplicationFailure } from '@temporalio/activity';
import { relay } from '../ssh';
import { detached, digest, images, record, shell, stagedPath, transfer } from '../tape';
import { describeImage } from './images';
import { heartbeat, mapSshErrors, commandFailure, cancellationSignal, execIdempotent, type Runtime } from './runtime';
import type { ProgressBeat, RunPlan, StagedImage, TransferOutcome } from './types';
import { formatBytes } from '../shared/format';

/** What `followImage` achieved: with `complete`, the tape host's size and SHA-256 of its copy after mksysb ended. */
export interface FollowOutcome {
  record: 4;
  complete: boolean;
  /** Bytes the tape host held when this attempt began (what earlier attempts moved). */
  resumedFrom: number;
  bytesSent: number;
  /** Reads of the growing file (one relay each). */
  rounds: number;
  bytes?: number;
  sha256?: string;
}

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
          `work folder ${stagingTape} on ${tapeHost} has ${formatBytes(df.freeKiB * 1024)} free but the ${record(image.record).name} needs ${formatBytes(need)} more`,
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
      // From byte 0 the tape host hashes the bytes as it writes them (tee | openssl): no second read of the file.
      // A resumed move appends to a prefix from an earlier attempt, so its check reads the whole file again.
      const hashing = offset === 0;
      const res = await mapSshErrors(() =>
        relay(src, transfer.readFrom(image.file, offset), dst, hashing ? transfer.writeHashing(plan.tapeOs, target) : transfer.writeFrom(target, offset), {
          signal: cancellationSignal(),
          onProgress: (sent) => heartbeat({ ...progress(sent) }),
        }),
      );
      if (res.source.code !== 0) throw commandFailure(backup.source, `read ${image.file}`, { ...res.source, stdout: '', code: res.source.code });
      const written = hashing ? digest.parseSha256WithStatus(res.destination.stdout) : undefined;
      if (res.destination.code !== 0 || (written && written.status !== 0)) {
        throw commandFailure(tapeHost, `write ${target}`, { ...res.destination, stdout: '', code: written?.status ?? res.destination.code });
      }
      const arrived =
        written?.ok && written.sha256
          ? {
              bytes: images.parseSize((await rt.run(tapeHost, `size of ${target}`, images.fileSize(target))).stdout),
              sha256: written.sha256,
            }
          : await describeImage(rt, tapeHost, plan.tapeOs, image.record, target);
      if (arrived.bytes !== image.bytes || arrived.sha256 !== image.sha256) {
        // Start the next attempt from zero: the bytes there cannot be trusted.
        await rt.run(tapeHost, `remove ${target}`, images.removeFile(target));
        heartbeat({ ...progress(0), offset: 0 });
        throw ApplicationFailure.retryable(
          `${record(image.record).name} on ${tapeHost} does not match the source: ${arrived.bytes} bytes, SHA-256 ${arrived.sha256}; ` +
            `expected ${image.bytes} bytes, SHA-256 ${image.sha256}`,
          'ChecksumMismatch',
        );
      }
      return { record: image.record, bytes: image.bytes, bytesSent: res.bytes, resumedFrom: offset, alreadyThere: false };
    },

    /**
     * Follows the source's growing mksysb image (record 4) while the detached `mksysb` of this backup writes it, and
     * returns the tape host's size and SHA-256 of its copy once mksysb has exited successfully and the last bytes moved;
     * `complete: false` when mksysb ended otherwise (the caller then moves the image the ordinary way).
     * Assumes mksysb only appends to its output file (it writes one backup archive front to back); any other change is
     * caught by the caller's SHA-256 comparison.
     */
    async followImage(plan: RunPlan): Promise<FollowOutcome> {
      const { backup, stagingTape, stagingSource } = plan;
      const tapeHost = backup.tape.host;
      const file = stagedPath(stagingSource, 4);
      const target = shell.joinPath(stagingTape, file.slice(file.lastIndexOf('/') + 1));
      await rt.run(tapeHost, `create ${stagingTape}`, images.mkdirP(stagingTape));
      const src = await rt.host(backup.source);
      const dst = await rt.host(tapeHost);
      const signal = cancellationSignal();
      // As often as the detached mksysb is polled (each round is a few channels on both connections).
      const interval = rt.deps.pollIntervalMs ?? 2000;
      // Reads that change nothing, retried when a channel closes without an exit status.
      const ask = async (hostName: string, what: string, cmd: string): Promise<string> => {
        const h = await rt.host(hostName);
        const r = await mapSshErrors(() => execIdempotent(h, cmd, { signal }));
        if (r.code !== 0) throw commandFailure(hostName, what, r);
        return r.stdout;
      };
      let offset = images.parseSizeOrAbsent((await rt.run(tapeHost, `size of ${target}`, images.fileSizeOrAbsent(target))).stdout) ?? 0;
      const resumedFrom = offset;
      let sent = 0;
      let rounds = 0;
      const beat = (): void => heartbeat({ stage: 'transfer', record: 4, bytesDone: offset, offset });
      for (;;) {
        // The state first, then the bytes: a move that starts after mksysb has exited sees the whole file.
        const state = detached.parseState(await ask(backup.source, 'state of mksysb', detached.poll(stagingSource, 'mksysb')));
        const failed = state.state === 'exited' ? state.code !== 0 : state.state === 'stopped' || state.state === 'vanished';
        if (failed) return { record: 4, complete: false, resumedFrom, bytesSent: sent, rounds };
        const have = images.parseSizeOrAbsent(await ask(backup.source, `size of ${file}`, images.fileSizeOrAbsent(file)));
        if (have !== null && have < offset) {
          // The source file is shorter than the copy: mksysb started again. Leave it to transferImage.
          return { record: 4, complete: false, resumedFrom, bytesSent: sent, rounds };
        }
        if (have !== null && have > offset) {
          rounds++;
          const base = offset;
          const res = await mapSshErrors(() =>
            relay(src, transfer.readFrom(file, base), dst, transfer.writeFrom(target, base), {
              signal,
              onProgress: (n) => heartbeat({ stage: 'transfer', record: 4, bytesDone: base + n, offset: base + n }),
            }),
          );
          if (res.source.code !== 0) throw commandFailure(backup.source, `read ${file}`, { ...res.source, stdout: '', code: res.source.code });
          if (res.destination.code !== 0) {
            throw commandFailure(tapeHost, `write ${target}`, { ...res.destination, stdout: '', code: res.destination.code });
          }
          offset = base + res.bytes;
          sent += res.bytes;
        }
        beat();
        if (state.state === 'exited' && state.code === 0) {
          const there = await describeImage(rt, tapeHost, plan.tapeOs, 4, target);
          return { record: 4, complete: true, resumedFrom, bytesSent: sent, rounds, bytes: there.bytes, sha256: there.sha256 };
        }
        if (have === null || have === offset) await sleep(interval, signal);
      }
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

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('cancelled'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Error('cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

