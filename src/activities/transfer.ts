/**
 * Moving a staged image from the source host to the tape host, resumable at the bytes the tape host already holds and
 * checked against the source's SHA-256 at the end, in one of two ways:
 * - relayed through the worker over its two SSH connections: streaming (memory bounded by the channel windows, whatever
 *   the size);
 * - direct, when the inventory says the tape host may log in to the source (`pullFrom`): the tape host pulls the image
 *   itself with OpenSSH (`ssh src 'cat FILE'`, the source's host key pinned from the inventory in a known_hosts file of
 *   the staging folder), one hop, no byte through the worker. The pull runs detached on the tape host, so a lost worker
 *   does not stop it and the next attempt attaches to it. When that ssh cannot connect or log in (exit status 255
 *   before any byte arrived), the attempt relays instead and says why (`directFailed`).
 *
 * `followImage` overlaps the move of the mksysb image with its making: while the detached `mksysb` runs on the source
 * it repeatedly moves what the file holds beyond what the tape host already has (`tail -c +N`, which reads to the
 * current end of the file and stops: AIX's `tail -f` cannot be relied on for a growing file over SSH), and after
 * `mksysb` has exited one last round takes the final bytes. It is an optimisation only: the workflow still compares the
 * tape host's SHA-256 of the whole file with the source's, and falls back to `transferImage` when they differ or when
 * following stopped early (mksysb failed or was restarted, which rewrites the file from its start).
 */
import { ApplicationFailure, log } from '@temporalio/activity';
import { relay } from '../ssh';
import { pullRoute, type PullRoute } from '../schema';
import { detached, digest, images, record, shell, stagedPath, transfer } from '../tape';
import { describeImage } from './images';
import { heartbeat, mapSshErrors, commandFailure, cancellationSignal, execIdempotent, type Runtime } from './runtime';
import type { RunPlan, StagedImage, TransferOutcome } from './types';
import type { HeartbeatProgress, TransferMode } from '../shared/contract';
import { formatBytes } from '../shared/format';

/** The known_hosts file in the tape host's staging folder that pins the source's key for the direct pull. */
const KNOWN_HOSTS = 'pull-known_hosts';

/**
 * Local exit statuses of the direct pull's ssh that mean "the tape host cannot pull this way": ssh's own failure (255:
 * no connection, host key refused, login refused) and a missing or unusable ssh (127, 126).
 */
const CANNOT_PULL = [transfer.SSH_FAILED, 127, 126];

/** What `followImage` achieved: with `complete`, the tape host's size and SHA-256 of its copy after mksysb ended. */
export interface FollowOutcome {
  record: 4;
  complete: boolean;
  /** Bytes the tape host held when this attempt began (what earlier attempts moved). */
  resumedFrom: number;
  bytesSent: number;
  /** Reads of the growing file (one relay, or one pull by the tape host, each). */
  rounds: number;
  bytes?: number;
  sha256?: string;
  /** `direct` when every read was pulled by the tape host itself; `relay` when the worker relayed them. */
  mode: TransferMode;
  /** The direct pull could not log in or connect (ssh's message); the rounds from then on were relayed. */
  directFailed?: string;
}

/** What a finished direct pull left on the tape host, or why the tape host could not pull. */
type Pulled = { size: number; sha256?: string } | { refused: string };

export function transferActivities(rt: Runtime) {
  /** How the tape host's ssh reaches the source, and the command that pins the source's key for it in the staging folder. */
  const pullSource = (plan: RunPlan, route: PullRoute): { src: transfer.PullSource; pin: string } => {
    const knownHostsFile = shell.joinPath(plan.stagingTape, KNOWN_HOSTS);
    return {
      src: { address: route.address, port: route.port, user: route.user, identityFile: route.identityFile, knownHostsFile },
      pin: transfer.writeKnownHosts(knownHostsFile, transfer.knownHostsLine(route.address, route.port, route.hostKey)),
    };
  };

  /**
   * A direct pull of `rec` that an earlier attempt started (`marked`, its name from the survey): its starting offset
   * when it still runs and `attach` allows taking it over; otherwise null (a finished pull is forgotten, a running one
   * that may not be taken over is stopped first, so that never two writers append to the same file).
   */
  const earlierPull = async (plan: RunPlan, rec: number, marked: string, attach: boolean): Promise<number | null> => {
    if (marked === '') return null;
    const { stagingTape: dir } = plan;
    const tapeHost = plan.backup.tape.host;
    const offset = transfer.parsePullName(marked, rec);
    const forget = [transfer.unmarkPull(dir, rec)];
    if (offset !== null) {
      const state = detached.parseState((await rt.run(tapeHost, `state of ${marked}`, detached.poll(dir, marked))).stdout);
      if (state.state === 'running' && attach) return offset;
      if (state.state === 'running') forget.unshift(detached.stop(dir, marked));
      forget.push(detached.forget(dir, marked));
    }
    await rt.run(tapeHost, `forget ${marked}`, shell.seq(...forget));
    return null;
  };

  /**
   * The tape host pulls `image` from byte `offset` into `target` itself, detached (a worker lost meanwhile leaves it
   * running; the next attempt attaches), heartbeating the bytes there. From byte 0 the pull hashes the file it wrote.
   */
  const pullImage = async (plan: RunPlan, image: StagedImage, route: PullRoute, offset: number, target: string, attached: boolean): Promise<Pulled> => {
    const { backup, stagingTape: dir } = plan;
    const tapeHost = backup.tape.host;
    const name = transfer.pullName(image.record, offset);
    const { src, pin } = pullSource(plan, route);
    // One name per starting point, forgotten before it starts and after its result is taken: a success left over from
    // an earlier move from the same offset is never taken for this one. The mark lets a retry find it while it runs.
    await rt.run(tapeHost, `prepare ${name}`, attached ? pin : shell.and(pin, detached.forget(dir, name), transfer.markPull(dir, image.record, name)));
    const hash = offset === 0;
    await rt.runDetached(
      tapeHost,
      `direct pull of the ${record(image.record).name} from ${backup.source}`,
      dir,
      name,
      transfer.pull(plan.tapeOs, src, image.file, offset, target, { hash }),
      (elapsedMs, bytesDone) => ({ stage: 'transfer', record: image.record, bytesDone, bytesTotal: image.bytes, offset: bytesDone, elapsedMs, mode: 'direct' }),
      target,
    );
    const report = transfer.parsePull(
      (await rt.run(tapeHost, `result of ${name}`, shell.seq(detached.outputTail(dir, name, 200), detached.forget(dir, name), transfer.unmarkPull(dir, image.record)))).stdout,
    );
    return judgePull(report, { source: backup.source, tapeHost, file: image.file, target, offset, hash });
  };

  return {
    async transferImage(plan: RunPlan, image: StagedImage): Promise<TransferOutcome> {
      const { backup, stagingTape } = plan;
      const tapeHost = backup.tape.host;
      const target = shell.joinPath(stagingTape, image.file.slice(image.file.lastIndexOf('/') + 1));
      const route = pullRoute(await rt.inventory(), tapeHost, backup.source);
      const mode: TransferMode = route ? 'direct' : 'relay';
      const found = transfer.parseSurvey((await rt.run(tapeHost, `staging folder ${stagingTape}`, transfer.survey(stagingTape, target, image.record))).stdout);
      const attach = await earlierPull(plan, image.record, found.pull, route !== undefined);
      let offset: number;
      if (attach !== null) offset = attach;
      else {
        const have = found.size;
        if (have === image.bytes) {
          const there = await describeImage(rt, tapeHost, plan.tapeOs, image.record, target);
          if (there.sha256 === image.sha256) {
            return { record: image.record, bytes: image.bytes, bytesSent: 0, resumedFrom: image.bytes, alreadyThere: true, mode };
          }
        }
        // Resume point: what the tape host really holds (a valid prefix: every writer appends in order), which is at or
        // past the offset the last attempt heartbeated; a longer or complete-but-wrong file is moved again from 0.
        offset = have === null || have >= image.bytes ? 0 : have;

        const need = image.bytes - offset;
        const free = found.df.freeKiB * 1024;
        if (free < need - Math.max(0, (have ?? 0) - offset)) {
          throw ApplicationFailure.nonRetryable(
            `work folder ${stagingTape} on ${tapeHost} has ${formatBytes(free)} free but the ${record(image.record).name} needs ${formatBytes(need)} more`,
            'StagingFolderFull',
          );
        }
      }

      /** The bytes arrived: compare with the source's size and SHA-256 (read again unless the writing command `hashed` it). */
      const check = async (hashed: { bytes: number; sha256: string } | undefined): Promise<void> => {
        const arrived = hashed ?? (await describeImage(rt, tapeHost, plan.tapeOs, image.record, target));
        if (arrived.bytes === image.bytes && arrived.sha256 === image.sha256) return;
        // Start the next attempt from zero: the bytes there cannot be trusted.
        await rt.run(tapeHost, `remove ${target}`, images.removeFile(target));
        heartbeat({ stage: 'transfer', record: image.record, bytesDone: 0, bytesTotal: image.bytes, offset: 0 });
        throw ApplicationFailure.retryable(
          `${record(image.record).name} on ${tapeHost} does not match the source: ${arrived.bytes} bytes, SHA-256 ${arrived.sha256}; ` +
            `expected ${image.bytes} bytes, SHA-256 ${image.sha256}`,
          'ChecksumMismatch',
        );
      };

      let directFailed: string | undefined;
      if (route) {
        const pulled = await pullImage(plan, image, route, offset, target, attach !== null);
        if (!('refused' in pulled)) {
          await check(pulled.sha256 !== undefined ? { bytes: pulled.size, sha256: pulled.sha256 } : undefined);
          return { record: image.record, bytes: image.bytes, bytesSent: pulled.size - offset, resumedFrom: offset, alreadyThere: false, mode: 'direct' };
        }
        directFailed = pulled.refused;
        warn(`${tapeHost} cannot pull the ${record(image.record).name} from ${backup.source} itself (${directFailed}); relaying it through the worker`);
      }

      const src = await rt.host(backup.source);
      const dst = await rt.host(tapeHost);
      const progress = (sent: number): HeartbeatProgress => ({
        stage: 'transfer',
        record: image.record,
        bytesDone: offset + sent,
        bytesTotal: image.bytes,
        offset: offset + sent,
      });
      heartbeat({ ...progress(0) });
      // From byte 0 the tape host hashes the file it wrote in the same command: no second round trip.
      // A resumed move appends to a prefix from an earlier attempt, so its check reads the whole file again.
      const hashing = offset === 0;
      const res = await mapSshErrors(() =>
        relay(src, transfer.readFrom(image.file, offset), dst, hashing ? transfer.writeHashing(plan.tapeOs, target) : transfer.writeFrom(target, offset), {
          dataMarker: transfer.DATA_MARKER,
          signal: cancellationSignal(),
          onProgress: (sent) => heartbeat({ ...progress(sent) }),
        }),
      );
      if (res.source.code !== 0) throw commandFailure(backup.source, `read ${image.file}`, { ...res.source, stdout: '', code: res.source.code });
      const written = hashing ? digest.parseSha256WithStatus(res.destination.stdout) : undefined;
      if (res.destination.code !== 0 || (written && written.status !== 0)) {
        throw commandFailure(tapeHost, `write ${target}`, { ...res.destination, stdout: '', code: written?.status ?? res.destination.code });
      }
      await check(
        written?.ok && written.sha256
          ? { bytes: images.parseSize((await rt.run(tapeHost, `size of ${target}`, images.fileSize(target))).stdout), sha256: written.sha256 }
          : undefined,
      );
      return {
        record: image.record,
        bytes: image.bytes,
        bytesSent: res.bytes,
        resumedFrom: offset,
        alreadyThere: false,
        mode: 'relay',
        ...(directFailed !== undefined ? { directFailed } : {}),
      };
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
      const found = transfer.parseSurvey((await rt.run(tapeHost, `staging folder ${stagingTape}`, transfer.survey(stagingTape, target, 4))).stdout);
      // No pull of an earlier transferImage may write the copy meanwhile (one from a run of this backup before).
      await earlierPull(plan, 4, found.pull, false);
      const src = await rt.host(backup.source);
      const dst = await rt.host(tapeHost);
      const signal = cancellationSignal();
      // The tape host pulls each round itself when the inventory says it may; relayed rounds otherwise.
      const route = pullRoute(await rt.inventory(), tapeHost, backup.source);
      let direct = route ? pullSource(plan, route) : undefined;
      if (direct) await rt.run(tapeHost, `pin the host key of ${backup.source}`, direct.pin);
      let directFailed: string | undefined;
      // As often as the detached mksysb is polled (each round is a few channels on both connections).
      const interval = rt.deps.pollIntervalMs ?? 2000;
      // Reads that change nothing, retried when a channel closes without an exit status.
      const ask = async (hostName: string, what: string, cmd: string): Promise<string> => {
        const h = await rt.host(hostName);
        const r = await mapSshErrors(() => execIdempotent(h, cmd, { signal }));
        if (r.code !== 0) throw commandFailure(hostName, what, r);
        return r.stdout;
      };
      let offset = found.size ?? 0;
      const resumedFrom = offset;
      let sent = 0;
      let rounds = 0;
      const outcome = (complete: boolean, there?: { bytes: number; sha256: string }): FollowOutcome => ({
        record: 4,
        complete,
        resumedFrom,
        bytesSent: sent,
        rounds,
        ...(there ? { bytes: there.bytes, sha256: there.sha256 } : {}),
        mode: direct ? 'direct' : 'relay',
        ...(directFailed !== undefined ? { directFailed } : {}),
      });
      const beat = (): void => heartbeat({ stage: 'transfer', record: 4, bytesDone: offset, offset });
      for (;;) {
        // The state first, then the bytes: a move that starts after mksysb has exited sees the whole file.
        const state = detached.parseState(await ask(backup.source, 'state of mksysb', detached.poll(stagingSource, 'mksysb')));
        const failed = state.state === 'exited' ? state.code !== 0 : state.state === 'stopped' || state.state === 'vanished';
        if (failed) return outcome(false);
        const have = images.parseSizeOrAbsent(await ask(backup.source, `size of ${file}`, images.fileSizeOrAbsent(file)));
        if (have !== null && have < offset) {
          // The source file is shorter than the copy: mksysb started again. Leave it to transferImage.
          return outcome(false);
        }
        if (have !== null && have > offset) {
          rounds++;
          const base = offset;
          if (direct) {
            // A tape-host command: cuts the copy at `base` and appends, so running it again after a lost channel is safe.
            const res = await rt.run(tapeHost, `pull of ${file} from ${backup.source}`, transfer.pull(plan.tapeOs, direct.src, file, base, target));
            const pulled = judgePull(transfer.parsePull(`${res.stdout}\n${res.stderr}`), {
              source: backup.source, tapeHost, file, target, offset: base, hash: false,
            });
            if ('refused' in pulled) {
              directFailed = pulled.refused;
              direct = undefined;
              rounds--;
              warn(`${tapeHost} cannot pull the mksysb image from ${backup.source} itself (${directFailed}); relaying it through the worker`);
              continue;
            }
            offset = pulled.size;
            sent += pulled.size - base;
          } else {
            const res = await mapSshErrors(() =>
              relay(src, transfer.readFrom(file, base), dst, transfer.writeFrom(target, base), {
                dataMarker: transfer.DATA_MARKER,
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
        }
        beat();
        if (state.state === 'exited' && state.code === 0) {
          return outcome(true, await describeImage(rt, tapeHost, plan.tapeOs, 4, target));
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

/**
 * Judges a direct pull's report: the bytes there (and their SHA-256 when the pull hashed it), or `refused` with ssh's
 * message when the tape host could not pull at all (ssh could not connect, log in or run, and no byte arrived), so that
 * the caller relays instead. A connection lost after some bytes is a retryable failure: the next attempt resumes at the
 * bytes the tape host holds.
 */
function judgePull(
  report: transfer.PullReport,
  at: { source: string; tapeHost: string; file: string; target: string; offset: number; hash: boolean },
): Pulled {
  const said = tailLines(report.messages, 4);
  const what = `direct pull of ${at.file} from ${at.source} to ${at.tapeHost}`;
  if (report.ssh === null || report.write === null) {
    throw ApplicationFailure.retryable(`${what} ended without reporting its result${said ? `: ${said}` : ''}`, 'CommandFailed');
  }
  // A writer that saw no data marker when ssh itself failed: nothing arrived (ssh's failure, judged below). With ssh's
  // status 0 a missing marker is the writer's failure: the stream was not an image.
  const nothingArrived = report.write === transfer.NO_DATA_STATUS && report.ssh !== 0;
  if ((report.write !== 0 && !nothingArrived) || (at.hash && report.ssh === 0 && report.sha256 === null)) {
    throw commandFailure(at.tapeHost, `write ${at.target}`, { code: report.write || 1, stdout: '', stderr: report.messages });
  }
  if (CANNOT_PULL.includes(report.ssh)) {
    const moved = (report.size ?? 0) - at.offset;
    if (moved <= 0) return { refused: said || `ssh exit status ${report.ssh}` };
    throw ApplicationFailure.retryable(
      `${what} lost its connection after ${moved} bytes (the next attempt resumes there)${said ? `: ${said}` : ''}`,
      'ConnectionLostError',
    );
  }
  if (report.ssh !== 0) throw commandFailure(at.source, `read ${at.file} (pulled by ${at.tapeHost})`, { code: report.ssh, stdout: '', stderr: report.messages });
  if (report.size === null) throw ApplicationFailure.retryable(`${what}: ${at.target} is missing afterwards`, 'CommandFailed');
  return at.hash && report.sha256 !== null ? { size: report.size, sha256: report.sha256 } : { size: report.size };
}

function tailLines(s: string, n: number): string {
  return s.trim().split('\n').map((l) => l.trim()).filter(Boolean).slice(-n).join(' | ').slice(0, 600);
}

function warn(message: string): void {
  try {
    log.warn(message);
  } catch {
    /* outside an activity */
  }
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

