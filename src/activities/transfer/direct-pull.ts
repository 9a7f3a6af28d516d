/**
 * The direct path: the tape host pulls an image from the source itself with OpenSSH (`ssh src 'cat FILE'`, the
 * source's host key pinned from the inventory in a known_hosts file of the staging folder), one hop, no byte through
 * the worker. A whole-image pull runs detached on the tape host, so a lost worker does not stop it and the next
 * attempt attaches to it. When that ssh cannot connect or log in (exit status 255 before any byte arrived), the
 * caller relays instead.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { PullRoute } from '../../schema';
import { detached, record, shell, transfer } from '../../tape';
import { commandFailure } from '../failures';
import type { ActivityHosts } from '../hosts';
import type { RunPlan, StagedImage } from '../types';

/** The known_hosts file in the tape host's staging folder that pins the source's key for the direct pull. */
const KNOWN_HOSTS = 'pull-known_hosts';

/**
 * Local exit statuses of the direct pull's ssh that mean "the tape host cannot pull this way": ssh's own failure (255:
 * no connection, host key refused, login refused) and a missing or unusable ssh (127, 126).
 */
const CANNOT_PULL = [transfer.SSH_FAILED, 127, 126];

/** What a finished direct pull left on the tape host, or why the tape host could not pull. */
export type Pulled = { size: number; sha256?: string } | { refused: string };

/** How the tape host's ssh reaches the source, and the command that pins the source's key for it in the staging folder. */
export function pullSource(plan: RunPlan, route: PullRoute): { src: transfer.PullSource; pin: string } {
  const knownHostsFile = shell.joinPath(plan.stagingTape, KNOWN_HOSTS);
  return {
    src: { address: route.address, port: route.port, user: route.user, identityFile: route.identityFile, knownHostsFile },
    pin: transfer.writeKnownHosts(knownHostsFile, transfer.knownHostsLine(route.address, route.port, route.hostKey)),
  };
}

/**
 * A direct pull of `rec` that an earlier attempt started (`marked`, its name from the survey): its starting offset
 * when it still runs and `attach` allows taking it over; otherwise null (a finished pull is forgotten, a running one
 * that may not be taken over is stopped first, so that never two writers append to the same file).
 */
export async function earlierPull(hosts: ActivityHosts, plan: RunPlan, rec: number, marked: string, attach: boolean): Promise<number | null> {
  if (marked === '') return null;
  const { stagingTape: dir } = plan;
  const tapeHost = plan.backup.tape.host;
  const offset = transfer.parsePullName(marked, rec);
  const forget = [transfer.unmarkPull(dir, rec)];
  if (offset !== null) {
    const state = detached.parseState((await hosts.run(tapeHost, `state of ${marked}`, detached.poll(dir, marked))).stdout);
    if (state.state === 'running' && attach) return offset;
    if (state.state === 'running') forget.unshift(detached.stop(dir, marked));
    forget.push(detached.forget(dir, marked));
  }
  await hosts.run(tapeHost, `forget ${marked}`, shell.seq(...forget));
  return null;
}

/**
 * The tape host pulls `image` from byte `offset` into `target` itself, detached (a worker lost meanwhile leaves it
 * running; the next attempt attaches), heartbeating the bytes there. From byte 0 the pull hashes the file it wrote.
 */
export async function pullImage(
  hosts: ActivityHosts,
  plan: RunPlan,
  image: StagedImage,
  route: PullRoute,
  offset: number,
  target: string,
  attached: boolean,
): Promise<Pulled> {
  const { backup, stagingTape: dir } = plan;
  const tapeHost = backup.tape.host;
  const name = transfer.pullName(image.record, offset);
  const { src, pin } = pullSource(plan, route);
  // One name per starting point, forgotten before it starts and after its result is taken: a success left over from
  // an earlier move from the same offset is never taken for this one. The mark lets a retry find it while it runs.
  await hosts.run(tapeHost, `prepare ${name}`, attached ? pin : shell.and(pin, detached.forget(dir, name), transfer.markPull(dir, image.record, name)));
  const hash = offset === 0;
  await hosts.runDetached(
    tapeHost,
    `direct pull of the ${record(image.record).name} from ${backup.source}`,
    dir,
    name,
    transfer.pull(plan.tapeOs, src, image.file, offset, target, { hash }),
    (elapsedMs, bytesDone) => ({ stage: 'transfer', record: image.record, bytesDone, bytesTotal: image.bytes, offset: bytesDone, elapsedMs, mode: 'direct' }),
    target,
  );
  const report = transfer.parsePull(
    (await hosts.run(tapeHost, `result of ${name}`, shell.seq(detached.outputTail(dir, name, 200), detached.forget(dir, name), transfer.unmarkPull(dir, image.record)))).stdout,
  );
  return judgePull(report, { source: backup.source, tapeHost, file: image.file, target, offset, hash });
}

/** One round of following a growing file: the tape host cuts its copy at `base` and appends the rest (safe to rerun). */
export async function pullRound(
  hosts: ActivityHosts,
  plan: RunPlan,
  src: transfer.PullSource,
  file: string,
  base: number,
  target: string,
): Promise<Pulled> {
  const { backup } = plan;
  const tapeHost = backup.tape.host;
  const res = await hosts.run(tapeHost, `pull of ${file} from ${backup.source}`, transfer.pull(plan.tapeOs, src, file, base, target));
  return judgePull(transfer.parsePull(`${res.stdout}\n${res.stderr}`), { source: backup.source, tapeHost, file, target, offset: base, hash: false });
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
