/**
 * Streaming relay through the worker: the output of a command on one host piped into the input of a command on
 * another, with backpressure (memory bounded by the channel windows and stream buffers whatever the size), byte
 * counting for heartbeats, and cancellation.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { keepTail, type ExitResult, type RemoteProcess } from './exec';
import type { SshHost } from './pool';

/** The source's stream ended, or its first `MAX_PREFIX` bytes passed, without the data marker line. */
export class DataMarkerMissingError extends Error {
  override name = 'DataMarkerMissingError';
}

/** Most bytes a session may print before the data marker (a login banner): only this prefix is ever held. */
export const MAX_PREFIX = 1024 * 1024;

/**
 * Drops everything up to and including the first line that is exactly `marker` (at the start of the stream or after
 * a newline), then passes the rest through untouched, counting it. Holds at most the prefix, never the data.
 */
export class DataStart extends Transform {
  /** Bytes passed on after the marker. */
  bytes = 0;
  private head: Buffer | null = Buffer.alloc(0);
  private readonly needle: Buffer;
  constructor(marker: string) {
    super();
    if (marker === '' || marker.includes('\n')) throw new Error('data marker must be one non-empty line');
    this.needle = Buffer.from(`\n${marker}\n`);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.head === null) {
      this.bytes += chunk.length;
      return cb(null, chunk);
    }
    // A leading newline stands for the start of the stream, so that a marker on the very first line is found too.
    const seen = Buffer.concat([this.head.length === 0 ? Buffer.from('\n') : this.head, chunk]);
    const at = seen.indexOf(this.needle);
    if (at >= 0) {
      this.head = null;
      const rest = seen.subarray(at + this.needle.length);
      this.bytes += rest.length;
      return cb(null, rest.length > 0 ? rest : undefined);
    }
    if (seen.length > MAX_PREFIX + this.needle.length) {
      return cb(new DataMarkerMissingError(`no data marker line in the first ${MAX_PREFIX} bytes of the source's output`));
    }
    this.head = seen;
    cb();
  }
  override _flush(cb: TransformCallback): void {
    cb(this.head === null ? null : new DataMarkerMissingError(`the source's output ended without the data marker line: no data arrived (${this.head.length - 1} bytes before it)`));
  }
}

export interface RelayResult {
  /** Bytes that went from the source's stdout into the destination's stdin. */
  bytes: number;
  source: ExitResult & { stderr: string };
  /** The destination command's exit, stderr tail and the last 4 KiB of its stdout (e.g. a digest it printed). */
  destination: ExitResult & { stderr: string; stdout: string };
}

export interface RelayOptions {
  /**
   * The source prints this line before the data (text a login may print comes before it): only what follows the
   * first line that is exactly this reaches the destination and is counted. Without it the relay rejects with
   * DataMarkerMissingError and stops the destination before its input ends, so it never takes an empty stream for data.
   */
  dataMarker?: string;
  signal?: AbortSignal;
  /** Called with the running byte count, at most every `progressIntervalMs` (default 1000) and at the end. */
  onProgress?: (bytes: number) => void;
  progressIntervalMs?: number;
}

/**
 * Runs `srcCmd` on `src` and `dstCmd` on `dst`, pipes one into the other, and resolves when both have exited.
 * It does not judge exit statuses (the caller does, with the stderr tails). A dropped connection on either side
 * rejects with ConnectionLostError (both commands are then stopped); an abort rejects with CommandAbortedError.
 */
export async function relay(src: SshHost, srcCmd: string, dst: SshHost, dstCmd: string, opts: RelayOptions = {}): Promise<RelayResult> {
  const inner = new AbortController();
  const onAbort = (): void => inner.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let from: RemoteProcess | undefined;
  let to: RemoteProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  let noMarker: DataMarkerMissingError | undefined;
  try {
    to = await dst.execStream(dstCmd, { signal: inner.signal });
    // ssh2 reports a channel's close only after its stdout has ended: read it, keeping a short tail for the caller.
    const out = keepTail(to.stdout, 4096);
    from = await src.execStream(srcCmd, { signal: inner.signal });
    const f = from;
    const t = to;
    const { start, sent } = countSent(f, opts.dataMarker);
    // Stopped before pipeline's teardown ends the destination's input, which would let it finish on no data.
    start?.once('error', (e: Error) => {
      if (e instanceof DataMarkerMissingError) noMarker = e;
      t.kill();
      f.kill();
    });
    if (opts.onProgress) {
      const cb = opts.onProgress;
      timer = setInterval(() => cb(sent()), opts.progressIntervalMs ?? 1000);
    }
    const [srcExit, dstExit] = await Promise.all([
      ...exitsStoppingEachOther(f, t),
      // A broken pipe shows in the exits (the side that ended early has its status): nothing to report here.
      (start ? pipeline(f.stdout, start, t.stdin) : pipeline(f.stdout, t.stdin)).catch(() => undefined),
    ]);
    if (noMarker) throw noMarker;
    const bytes = sent();
    opts.onProgress?.(bytes);
    return {
      bytes,
      source: { ...srcExit, stderr: f.stderrTail() },
      destination: { ...dstExit, stderr: t.stderrTail(), stdout: out() },
    };
  } catch (e) {
    from?.kill();
    to?.kill();
    throw noMarker ?? e;
  } finally {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

/** Counts what the source sends: after the data marker through a DataStart when there is one, every byte otherwise. */
function countSent(f: RemoteProcess, marker: string | undefined): { start?: DataStart; sent(): number } {
  if (marker !== undefined) {
    const start = new DataStart(marker);
    return { start, sent: () => start.bytes };
  }
  let raw = 0;
  f.stdout.on('data', (d: Buffer) => {
    raw += d.length;
  });
  return { sent: () => raw };
}

/**
 * The source's and the destination's exits. If either side ends early (drop, abort, a failed command), the other is
 * stopped so that nothing waits forever: a destination that exits before the source's output ended, or either side
 * failing.
 */
function exitsStoppingEachOther(f: RemoteProcess, t: RemoteProcess): [Promise<ExitResult>, Promise<ExitResult>] {
  let srcEnded = false;
  f.stdout.once('end', () => {
    srcEnded = true;
  });
  const watch = (p: RemoteProcess, other: RemoteProcess, isDst: boolean): Promise<ExitResult> =>
    p.exit.then(
      (r) => {
        if (isDst && !srcEnded) other.kill();
        return r;
      },
      (e: unknown) => {
        other.kill();
        throw e;
      },
    );
  return [watch(f, t, false), watch(t, f, true)];
}
