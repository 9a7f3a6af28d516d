/**
 * The relay path: the image streams from the source through the worker into the tape host's copy, over the worker's
 * two SSH connections (memory bounded by the channel windows, whatever the size).
 */
import type { HeartbeatProgress } from '../../shared/contract';
import { relay, type RelayResult, type SshHost } from '../../ssh';
import { digest, images, transfer } from '../../tape';
import { cancellationSignal, heartbeat } from '../context';
import { commandFailure, mapSshErrors } from '../failures';
import type { ActivityHosts } from '../hosts';
import type { RunPlan, StagedImage } from '../types';
import { checkCopy } from './staged-copy';

/** One relayed range: from byte `base` of `file` on the source into `target` on the tape host, written by `write`. */
interface Range {
  src: SshHost;
  dst: SshHost;
  file: string;
  target: string;
  base: number;
  write: string;
  onProgress: (sent: number) => void;
  signal?: AbortSignal;
}

/** Relays a range; a source that failed to read fails the attempt (the caller judges the writer). */
export async function relayRange(plan: RunPlan, r: Range): Promise<RelayResult> {
  const res = await mapSshErrors(() =>
    relay(r.src, transfer.readFrom(r.file, r.base), r.dst, r.write, { dataMarker: transfer.DATA_MARKER, signal: r.signal, onProgress: r.onProgress }),
  );
  if (res.source.code !== 0) throw commandFailure(plan.backup.source, `read ${r.file}`, { ...res.source, stdout: '', code: res.source.code });
  return res;
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
export async function relayImage(hosts: ActivityHosts, plan: RunPlan, image: StagedImage, target: string, offset: number): Promise<number> {
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
  const res = await relayRange(plan, {
    src,
    dst,
    file: image.file,
    target,
    base: offset,
    write: hashing ? transfer.writeHashing(plan.tapeOs, target) : transfer.writeFrom(target, offset),
    onProgress: (sent) => heartbeat({ ...progress(sent) }),
    signal: cancellationSignal(),
  });
  const written = hashing ? digest.parseSha256WithStatus(res.destination.stdout) : undefined;
  checkWriter(tapeHost, target, res, written);
  await checkCopy(
    hosts,
    plan,
    image,
    target,
    written?.ok && written.sha256
      ? { bytes: images.parseSize((await hosts.run(tapeHost, `size of ${target}`, images.fileSize(target))).stdout), sha256: written.sha256 }
      : undefined,
  );
  return res.bytes;
}
