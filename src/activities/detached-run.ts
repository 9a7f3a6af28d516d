/**
 * Long remote commands (mksysb, a record write, a direct pull) run detached on their host (src/tape/detached.ts):
 * they survive the SSH session and the worker, and a retried activity re-attaches to a running command or takes its
 * finished result instead of starting it again.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { ExecResult, ExitResult, SshHost } from '../ssh';
import { detached, images, shell } from '../tape';
import { cancellationSignal, cancelRequested, heartbeat } from './context';
import { commandFailure, mapSshErrors } from './failures';
import type { ActivityHosts } from './hosts';
import { execIdempotent, execKilledOnHangup } from './remote-exec';

/** Heartbeat details of a detached command, from its running time and the bytes its output file holds. */
export type DetachedProgress = (elapsedMs: number, bytesDone?: number) => Record<string, unknown>;

/** One detached command of a host: its folder and name there, and what it is in messages. */
interface Detached {
  host: SshHost;
  hostName: string;
  what: string;
  dir: string;
  name: string;
}

/**
 * Runs `cmd` detached on the host (it survives the SSH session and this worker), or re-attaches to it when a
 * previous attempt started it: takes a finished result instead of starting again, and starts again only when the
 * previous run failed, was stopped or vanished. Polls while heartbeating; cancellation stops the remote command.
 */
export async function runDetached(
  hosts: ActivityHosts,
  hostName: string,
  what: string,
  dir: string,
  name: string,
  cmd: string,
  progress: DetachedProgress,
  /** A file the command writes as it goes (mksysb's image): its size is polled and heartbeated as bytes done. */
  output?: string,
): Promise<{ attached: boolean }> {
  const d: Detached = { host: await hosts.host(hostName), hostName, what, dir, name };
  const state = detached.parseState((await query(d)).stdout);
  if (state.state === 'exited' && state.code === 0) return { attached: true };
  if (state.state === 'running') {
    await follow(d, state, undefined, hosts.deps.pollIntervalMs ?? 2000, progress, output);
    return { attached: true };
  }
  if (state.state !== 'absent') await query(d, detached.forget(dir, name));
  const waiter = await startWaiting(d.host, hostName, what, detached.start(dir, name, cmd, { wait: true }));
  try {
    await follow(d, waiter.first, waiter, hosts.deps.pollIntervalMs ?? 2000, progress, output);
  } finally {
    // Never signal that session: the signal would reach the detached command too.
    waiter.release();
  }
  return { attached: false };
}

/** A command on the detached command's files (the poll of its state by default), safe to run twice. */
function query(d: Detached, cmd = detached.poll(d.dir, d.name)): Promise<ExecResult> {
  return mapSshErrors(() => execIdempotent(d.host, cmd, { signal: cancellationSignal() }));
}

/**
 * Heartbeats until the command has ended, from the state last seen: resolves when it exited 0, throws its failure
 * otherwise. The starting session (`waiter`) reports the end at once, so polls then only heartbeat; without it
 * (re-attached, or its session lost) quick first polls catch short commands, doubling up to `interval`.
 */
async function follow(
  d: Detached,
  from: detached.DetachedState,
  waiter: Waiting | undefined,
  interval: number,
  progress: DetachedProgress,
  output: string | undefined,
): Promise<void> {
  let state = from;
  const t0 = Date.now();
  let wait = waiter ? interval : Math.min(interval, 100);
  let ended: Promise<detached.DetachedState | null> = waiter?.final ?? NEVER;
  let bytesDone: number | undefined;
  const signal = cancellationSignal();
  try {
    for (;;) {
      if (state.state === 'exited') {
        if (state.code === 0) return;
        const tail = await query(d, detached.outputTail(d.dir, d.name, 20)).catch(() => undefined);
        throw commandFailure(d.hostName, d.what, { code: state.code, stdout: '', stderr: tail?.stdout ?? '' });
      }
      if (state.state === 'vanished' || state.state === 'stopped' || state.state === 'absent') {
        throw ApplicationFailure.retryable(`${d.what} on ${d.hostName} is no longer running and left no exit status (${state.state})`, 'CommandVanished');
      }
      heartbeat({ ...progress(Date.now() - t0, bytesDone), pid: state.pid });
      const final = await sleepUnlessEnded(wait, signal, ended);
      if (final === null) {
        // The starting session was lost: the command runs on; poll from now on.
        ended = NEVER;
        wait = Math.min(interval, 100);
      } else if (final) {
        state = final;
        continue;
      } else if (ended === NEVER) wait = Math.min(interval, wait * 2);
      const polled = (await query(d, output ? shell.seq(detached.poll(d.dir, d.name), images.fileSizeOrAbsent(output)) : undefined)).stdout;
      state = detached.parseState(polled);
      if (output) bytesDone = images.parseSizeOrAbsent(polled) ?? undefined;
    }
  } catch (err) {
    // Cancelled by the workflow (not a worker shutdown, which leaves the command running for the next attempt to
    // re-attach): stop the remote command and everything it started.
    if (signal?.aborted && cancelRequested()) {
      await mapSshErrors(() => execKilledOnHangup(d.host, detached.stop(d.dir, d.name), {})).catch(() => undefined);
      throw new Error(`${d.what} on ${d.hostName}: stopped because the workflow was cancelled`);
    }
    throw err;
  }
}

const NEVER = new Promise<never>(() => undefined);

/**
 * Waits `ms`, or less when `ended` settles first (its value then); the timer is cleared either way, so a command that
 * ended early leaves no poll timer behind.
 */
function sleepUnlessEnded<T>(ms: number, signal: AbortSignal | undefined, ended: Promise<T>): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const timer = setTimeout(() => {
      done();
      resolve(undefined);
    }, ms);
    const onAbort = (): void => {
      done();
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    if (ended !== NEVER) {
      ended.then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    }
  });
}

interface Waiting {
  /** The state the start printed: started, or running / exited when an earlier start got there first. */
  first: detached.DetachedState;
  /** The state printed when the command ended, or null when the session ended without it (lost, released). */
  final: Promise<detached.DetachedState | null>;
  release(): void;
}

/**
 * Starts a detached command with `detached.start(..., { wait: true })` on a session kept open until the command ends,
 * and resolves as soon as the start has printed its first state line.
 */
async function startWaiting(host: SshHost, hostName: string, what: string, cmd: string): Promise<Waiting> {
  const p = await mapSshErrors(() => host.execStream(cmd));
  p.stdin.end();
  let out = '';
  let resolveFirst!: (s: detached.DetachedState) => void;
  const first = new Promise<detached.DetachedState>((res) => (resolveFirst = res));
  let gotFirst = false;
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d: string) => {
    out += d;
    if (out.length > 65536) out = out.slice(-65536);
    if (!gotFirst && out.includes('\n') && out.includes(`${detached.STATE_TAG} `)) {
      const line = out.split('\n').find((l) => l.startsWith(`${detached.STATE_TAG} `));
      if (line !== undefined && out.includes(`${line}\n`)) {
        gotFirst = true;
        resolveFirst(detached.parseState(line));
      }
    }
  });
  const exit = p.exit.then(
    (r) => r,
    (e: unknown) => e as Error,
  );
  const state = await Promise.race([first, exit]);
  if (!gotFirst) {
    if (state instanceof Error) return await mapSshErrors(() => Promise.reject(state));
    const r = state as ExitResult;
    throw commandFailure(hostName, `start ${what}`, { code: r.code, signal: r.signal, stdout: out, stderr: p.stderrTail() });
  }
  const started = await first;
  return {
    first: started,
    final: exit.then((r) => {
      if (r instanceof Error || r.code !== 0) return null;
      const s = detached.parseState(out);
      return s.state === 'exited' || s.state === 'stopped' ? s : null;
    }),
    release: () => p.detach(),
  };
}
