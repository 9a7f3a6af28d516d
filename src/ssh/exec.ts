/**
 * Running a command on a session of a host: buffered (output collected, bounded) or streamed (raw channel streams),
 * with cancellation by AbortSignal and timeout.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ClientChannel } from 'ssh2';
import { CommandAbortedError, CommandTimeoutError, ConnectionLostError, OutputTooLargeError, type SshError } from './errors';
import type { HostSessions } from './sessions';
import { signalSession } from './ssh2-internals';

export interface ExecResult {
  /** Exit status, or null when the command died of a signal. */
  code: number | null;
  /** Signal name (`SIGTERM`) when the command died of one. */
  signal?: string;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  signal?: AbortSignal;
  stdin?: string | Buffer | NodeJS.ReadableStream;
  /** Signal and close the command after this long; rejects with CommandTimeoutError. */
  timeoutMs?: number;
  /** Largest stdout + stderr kept (default 16 MiB); more rejects with OutputTooLargeError. */
  maxBuffer?: number;
  /**
   * Hold the command's stdin open until it exits instead of ending it at once: the lifeline that a command line built
   * with `killOnHangup` (src/tape/shell.ts) watches, so that the command and everything it started die when the
   * channel closes early (abort, timeout, dropped connection, crashed worker). Only for such a line: a command that
   * reads its stdin would wait for it forever. Ignored when `stdin` is given.
   */
  lifeline?: boolean;
  /**
   * For a command that is safe to run twice (a query, a positioning, a read-back): run it again, up to this many
   * times, when its connection was lost before it reported an exit status (a real drop: a status that arrived is
   * never lost). Ignored with `stdin`. Default 0.
   */
  retryIfLost?: number;
}

export interface ExitResult {
  code: number | null;
  signal?: string;
  /** True when we stopped the command (`kill()`) before it reported an exit status. */
  killed?: boolean;
}

/** A command running with raw streams. Its stderr is drained (last 64 KiB kept) so it never stalls the channel. */
export interface RemoteProcess {
  channel: ClientChannel;
  /** The command's standard output. Read it, pipe it or call `resume()`: `exit` settles only after it has ended. */
  stdout: Readable;
  /** The command's standard input (end it to send EOF). */
  stdin: NodeJS.WritableStream;
  /** Resolves when the command has exited and the channel closed; rejects with ConnectionLostError on a drop. */
  exit: Promise<ExitResult>;
  /** The last 64 KiB of standard error so far. */
  stderrTail(): string;
  /** Sends SIGTERM to the remote command and closes the channel. */
  kill(): void;
  /**
   * Closes the channel without signalling the command (a session signal reaches its whole process group): what a
   * caller does with a session whose command must outlive it. `exit` then rejects unless the command had ended.
   */
  detach(): void;
}

/** Where commands get their sessions: one host's slots (src/ssh/sessions.ts). */
type Sessions = Pick<HostSessions, 'ref' | 'openExec'>;

const STDERR_TAIL = 64 * 1024;
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;
const LOST_EXIT = 'the channel closed before the command reported its exit status';

/** Runs a command and collects its output; with `retryIfLost`, runs it again after a connection lost mid-command. */
export async function execBuffered(sessions: Sessions, cmd: string, opts: ExecOptions): Promise<ExecResult> {
  const retries = opts.stdin === undefined ? (opts.retryIfLost ?? 0) : 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await execOnce(sessions, cmd, opts);
    } catch (err) {
      if (!(err instanceof ConnectionLostError) || attempt >= retries || opts.signal?.aborted) throw err;
    }
  }
}

async function execOnce(sessions: Sessions, cmd: string, opts: ExecOptions): Promise<ExecResult> {
  const ref = sessions.ref;
  const lifeline = opts.stdin === undefined && opts.lifeline === true;
  const { ch, exit } = await sessions.openExec(cmd, opts.signal);
  const maxBuffer = opts.maxBuffer ?? DEFAULT_MAX_BUFFER;
  return new Promise<ExecResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    let failure: SshError | null = null;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => stop(new CommandAbortedError(ref));
    const stop = (e: SshError): void => {
      if (failure) return;
      failure = e;
      terminate(ch);
    };
    const take = (list: Buffer[]) => (d: Buffer) => {
      size += d.length;
      if (size > maxBuffer) stop(new OutputTooLargeError(ref, maxBuffer));
      else list.push(d);
    };
    ch.on('data', take(out));
    ch.stderr.on('data', take(err));
    ch.once('close', () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (failure) return reject(failure);
      const status = exit();
      if (!status) return reject(new ConnectionLostError(ref, LOST_EXIT));
      resolve({ ...status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) timer = setTimeout(() => stop(new CommandTimeoutError(ref, opts.timeoutMs!)), opts.timeoutMs);
    sendStdin(ch, opts.stdin, lifeline, () => stop(new ConnectionLostError(ref, 'stdin stream failed')));
  });
}

/** Feeds the command's stdin and ends it; without input it stays open when it is the command's lifeline. */
function sendStdin(ch: ClientChannel, input: ExecOptions['stdin'], lifeline: boolean, onFail: () => void): void {
  if (input === undefined) {
    // The lifeline: stdin stays open until the command exits (sshd then closes the channel).
    if (!lifeline) ch.end();
  }
  else if (typeof input === 'string' || Buffer.isBuffer(input)) ch.end(input);
  else pipeline(input as NodeJS.ReadableStream, ch).catch(onFail);
}

/** Starts a command and hands back its streams; the caller reads/pipes them and awaits `exit`. */
export async function execStreamed(sessions: Sessions, cmd: string, opts: { signal?: AbortSignal }): Promise<RemoteProcess> {
  const { ch, exit } = await sessions.openExec(cmd, opts.signal);
  const ref = sessions.ref;
  const stderrTail = keepTail(ch.stderr, STDERR_TAIL);
  let aborted = false;
  let killed = false;
  const onAbort = (): void => {
    aborted = true;
    terminate(ch);
    discard(ch);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const done = new Promise<ExitResult>((resolve, reject) => {
    ch.once('close', () => {
      opts.signal?.removeEventListener('abort', onAbort);
      const status = exit();
      if (aborted) return reject(new CommandAbortedError(ref));
      if (!status && killed) return resolve({ code: null, killed: true });
      if (!status) return reject(new ConnectionLostError(ref, LOST_EXIT));
      resolve(status);
    });
  });
  // Callers may await `exit` late; never let an early rejection be reported as unhandled.
  done.catch(() => undefined);
  return {
    channel: ch,
    stdout: ch,
    stdin: ch,
    exit: done,
    stderrTail,
    kill: () => {
      killed = true;
      terminate(ch);
      discard(ch);
    },
    detach: () => {
      opts.signal?.removeEventListener('abort', onAbort);
      discard(ch);
      try {
        ch.close();
      } catch {
        /* already closed */
      }
    },
  };
}

/** Drains a stream, keeping its last `max` bytes (for messages, or a digest printed at the end). */
export function keepTail(stream: Readable, max: number): () => string {
  let tail = Buffer.alloc(0);
  stream.on('data', (d: Buffer) => {
    tail = Buffer.concat([tail, d]);
    if (tail.length > max) tail = tail.subarray(tail.length - max);
  });
  return () => tail.toString('utf8');
}

/**
 * Drops whatever the channel still holds or receives: ssh2 reports a channel's close only after its stdout has
 * ended, which never happens while a pipe to a dead destination keeps it paused.
 */
export function discard(ch: ClientChannel): void {
  ch.unpipe();
  ch.resume();
}

/**
 * Stops a remote command: an SSH "signal" request (OpenSSH ≥ 7.9 delivers it to the session's process group; older
 * servers ignore it), then closes the channel, which also ends its stdin and breaks its stdout pipe.
 */
export function terminate(ch: ClientChannel): void {
  signalSession(ch, 'TERM');
  try {
    ch.close();
  } catch {
    /* already closed */
  }
}
