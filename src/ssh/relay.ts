/**
 * Streaming relay through the worker: the output of a command on one host piped into the input of a command on
 * another, with backpressure (memory bounded by the channel windows and stream buffers whatever the size), byte
 * counting for heartbeats, and cancellation.
 */
import { pipeline } from 'node:stream/promises';
import type { ExitResult, RemoteProcess, SshHost } from './pool';

export interface RelayResult {
  /** Bytes that went from the source's stdout into the destination's stdin. */
  bytes: number;
  source: ExitResult & { stderr: string };
  /** The destination command's exit, stderr tail and the last 4 KiB of its stdout (e.g. a digest it printed). */
  destination: ExitResult & { stderr: string; stdout: string };
}

export interface RelayOptions {
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
  try {
    to = await dst.execStream(dstCmd, { signal: inner.signal });
    // ssh2 reports a channel's close only after its stdout has ended: read it, keeping a short tail for the caller.
    let out = Buffer.alloc(0);
    to.stdout.on('data', (d: Buffer) => {
      out = Buffer.concat([out, d]);
      if (out.length > 4096) out = out.subarray(out.length - 4096);
    });
    from = await src.execStream(srcCmd, { signal: inner.signal });
    let bytes = 0;
    from.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
    });
    if (opts.onProgress) {
      const cb = opts.onProgress;
      timer = setInterval(() => cb(bytes), opts.progressIntervalMs ?? 1000);
    }
    const f = from;
    const t = to;
    let srcEnded = false;
    f.stdout.once('end', () => {
      srcEnded = true;
    });
    // If either side ends early (drop, abort, a failed command), stop the other so that nothing waits forever.
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
    const [srcExit, dstExit] = await Promise.all([
      watch(f, t, false),
      watch(t, f, true),
      // A broken pipe shows in the exits (the side that ended early has its status): nothing to report here.
      pipeline(f.stdout, t.stdin).catch(() => undefined),
    ]);
    opts.onProgress?.(bytes);
    return {
      bytes,
      source: { ...srcExit, stderr: f.stderrTail() },
      destination: { ...dstExit, stderr: t.stderrTail(), stdout: out.toString('utf8') },
    };
  } catch (e) {
    from?.kill();
    to?.kill();
    throw e;
  } finally {
    clearInterval(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
