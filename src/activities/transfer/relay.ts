/**
 * The relay path: the image streams from the source through the worker into the tape host's copy, over the worker's
 * two SSH connections (memory bounded by the channel windows, whatever the size).
 */
import type { HeartbeatProgress, RelayClient } from '../../shared/contract';
import { relay, type HostEndpoint, type RelayResult, type SshHost } from '../../ssh';
import { opensshCanLogIn, opensshRelay, type OpensshTools } from '../../ssh/openssh-relay';
import { images, transfer } from '../../tape';
import { cancellationSignal, heartbeat } from '../context';
import { commandFailure, mapSshErrors } from '../failures';
import type { ActivityHosts } from '../hosts';
import type { RunPlan, StagedImage } from '../types';
import { execIdempotent } from '../remote-exec';
import { checkCopy } from './staged-copy';

/**
 * One relayed range: from byte `base` of `file` on the source into `target` on the tape host, written by `write`
 * (framed: the writer itself skips what comes before the data marker, for the OpenSSH relay).
 */
interface Range {
  src: SshHost;
  dst: SshHost;
  file: string;
  target: string;
  base: number;
  write: (framed: boolean) => string;
  onProgress: (sent: number) => void;
  signal?: AbortSignal;
}

/** Relays a range; a source that failed to read fails the attempt (the caller judges the writer). */
export async function relayRange(hosts: ActivityHosts, plan: RunPlan, r: Range): Promise<RelayResult & { via: RelayClient }> {
  const res = await mapSshErrors(async () => {
    const tools = await hosts.relayTools();
    const ends = tools && (await Promise.all([hosts.endpoint(plan.backup.source), hosts.endpoint(plan.backup.tape.host)]));
    if (tools && ends && ends.every(opensshCanLogIn)) return { ...(await relayByOpenssh(tools, ends[0]!, ends[1]!, r)), via: 'openssh' as const };
    const opts = { dataMarker: transfer.DATA_MARKER, signal: r.signal, onProgress: r.onProgress };
    return { ...(await relay(r.src, transfer.readFrom(r.file, r.base), r.dst, r.write(false), opts)), via: 'ssh2' as const };
  });
  // A source stopped because the writer ended first is not the failure: the caller reports the writer's.
  const stoppedByWriter = res.source.killed === true && res.destination.code !== 0;
  if (res.source.code !== 0 && !stoppedByWriter) throw commandFailure(plan.backup.source, `read ${r.file}`, { ...res.source, stdout: '', code: res.source.code });
  return res;
}

/**
 * The range through the worker's ssh clients. The bytes pass through no Node stream, so they are counted where they
 * land: the copy's size on the tape host, polled for progress and read once at the end.
 */
async function relayByOpenssh(tools: OpensshTools, src: HostEndpoint, dst: HostEndpoint, r: Range): Promise<RelayResult> {
  const landed = async (): Promise<number> => {
    const out = await execIdempotent(r.dst, images.fileSizeOrAbsent(r.target), { signal: r.signal });
    return Math.max(0, (images.parseSizeOrAbsent(out.stdout) ?? 0) - r.base);
  };
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    landed()
      .then(r.onProgress, () => undefined)
      .finally(() => (polling = false));
  }, 1000);
  try {
    const res = await opensshRelay(tools, src, transfer.readFrom(r.file, r.base), dst, r.write(true), { signal: r.signal });
    const bytes = await landed();
    r.onProgress(bytes);
    return { bytes, ...res };
  } finally {
    clearInterval(timer);
  }
}

/** Fails the attempt when the writer failed: its exit status, or the status a hashing writer printed (`written`). */
export function checkWriter(tapeHost: string, target: string, res: RelayResult, written?: { status: number | null }): void {
  if (res.destination.code !== 0 || (written && written.status !== 0)) {
    throw commandFailure(tapeHost, `write ${target}`, { ...res.destination, stdout: '', code: written?.status ?? res.destination.code });
  }
}

/**
 * Relays the image from `offset` into the copy and checks it; returns the bytes sent. From byte 0 the tape host
 * hashes the file it wrote in the same command: no second round trip. A resumed move appends to a prefix from an
 * earlier attempt, so its check reads the whole file again.
 */
export async function relayImage(
  hosts: ActivityHosts,
  plan: RunPlan,
  image: StagedImage,
  target: string,
  offset: number,
): Promise<{ sent: number; via: RelayClient }> {
  const tapeHost = plan.backup.tape.host;
  const src = await hosts.host(plan.backup.source);
  const dst = await hosts.host(tapeHost);
  const progress = (sent: number): HeartbeatProgress => ({
    stage: 'transfer',
    record: image.record,
    bytesDone: offset + sent,
    bytesTotal: image.bytes,
    offset: offset + sent,
  });
  heartbeat({ ...progress(0) });
  const hashing = offset === 0;
  const res = await relayRange(hosts, plan, {
    src,
    dst,
    file: image.file,
    target,
    base: offset,
    write: (framed) => (hashing ? transfer.writeHashing(plan.tapeOs, target, { framed }) : transfer.writeFrom(target, offset, { framed })),
    onProgress: (sent) => heartbeat({ ...progress(sent) }),
    signal: cancellationSignal(),
  });
  const written = hashing ? transfer.parseWritten(res.destination.stdout) : undefined;
  checkWriter(tapeHost, target, res, written);
  await checkCopy(hosts, plan, image, target, written?.copy ?? undefined);
  return { sent: res.bytes, via: res.via };
}
