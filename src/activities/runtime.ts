/**
 * What every activity needs on the worker: the inventory (re-read when the file changes), SSH connections reused per
 * host within the worker (src/ssh), remote commands whose failures become the right Temporal failures, heartbeats
 * while waiting, and detached remote commands that survive the worker.
 */
import * as fs from 'node:fs';
import { Context, ApplicationFailure } from '@temporalio/activity';
import { SshPool, isSshError, NON_RETRYABLE_SSH_ERROR_TYPES, type ExecOptions, type ExitResult, type HostEndpoint, type SshHost, type ExecResult } from '../ssh';
import { loadInventory } from '../schema/load-inventory';
import type { Inventory, InventoryHost } from '../schema';
import { detached, images, shell } from '../tape';

/** Failure types retrying cannot fix; the workflow's retry policies list them as non-retryable. */
export const NON_RETRYABLE_TYPES: readonly string[] = [
  ...NON_RETRYABLE_SSH_ERROR_TYPES,
  'InputValidationError',
  'InventoryValidationError',
  'UnknownHost',
  'CommandNotFound',
  'DeviceAbsent',
  'ImageTooLarge',
  'TapeNotBlank',
  'StagingFolderFull',
  'ShellValueError',
];

export interface RuntimeDeps {
  inventoryPath: string;
  pool: SshPool;
  /** Milliseconds between polls of a detached command (default 2000; tests use less). */
  pollIntervalMs?: number;
}

export class Runtime {
  private cached?: { text: string; inv: Inventory };
  constructor(readonly deps: RuntimeDeps) {}

  /** The inventory as the file says now (re-read every time: small, and an operator may change it between steps). */
  async inventory(): Promise<Inventory> {
    const text = await fs.promises.readFile(this.deps.inventoryPath, 'utf8').catch(() => undefined);
    if (text !== undefined && this.cached?.text === text) return this.cached.inv;
    try {
      const inv = await loadInventory(this.deps.inventoryPath);
      if (text !== undefined) this.cached = { text, inv };
      return inv;
    } catch (err) {
      throw ApplicationFailure.nonRetryable((err as Error).message, 'InventoryValidationError');
    }
  }

  async hostEntry(name: string): Promise<InventoryHost> {
    const inv = await this.inventory();
    const h = Object.hasOwn(inv.hosts, name) ? inv.hosts[name] : undefined;
    if (!h) throw ApplicationFailure.nonRetryable(`host "${name}" is not in the inventory ${this.deps.inventoryPath}`, 'UnknownHost');
    return h;
  }

  /** The SSH connection to an inventory host; credentials are read here, on the worker, and never leave it. */
  async host(name: string): Promise<SshHost> {
    const h = await this.hostEntry(name);
    const ep: HostEndpoint = { name, address: h.address, port: h.port, user: h.user, hostKey: h.hostKey, maxSessions: h.maxSessions };
    if ('agent' in h.key) ep.agent = h.key.agent;
    else {
      try {
        ep.privateKey = await fs.promises.readFile(h.key.path);
      } catch (err) {
        throw ApplicationFailure.nonRetryable(
          `cannot read the private key for host "${name}" at ${h.key.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
          'AuthenticationError',
        );
      }
      if (h.key.passphraseEnv) ep.passphrase = process.env[h.key.passphraseEnv];
    }
    return this.deps.pool.host(ep);
  }

  /** Runs a command; non-zero exit → a failure naming host, what was done and the command's own message. */
  async run(hostName: string, what: string, cmd: string, opts: { allowExit?: number[]; timeoutMs?: number } = {}): Promise<ExecResult> {
    const host = await this.host(hostName);
    const res = await withHeartbeat(() =>
      mapSshErrors(() => execIdempotent(host, cmd, { signal: cancellationSignal(), timeoutMs: opts.timeoutMs })),
    );
    if (res.code === 0 || (res.code !== null && opts.allowExit?.includes(res.code))) return res;
    throw commandFailure(hostName, what, res);
  }

  /**
   * Runs `cmd` detached on the host (it survives the SSH session and this worker), or re-attaches to it when a
   * previous attempt started it: takes a finished result instead of starting again, and starts again only when the
   * previous run failed, was stopped or vanished. Polls while heartbeating; cancellation stops the remote command.
   */
  async runDetached(
    hostName: string,
    what: string,
    dir: string,
    name: string,
    cmd: string,
    progress: (elapsedMs: number, bytesDone?: number) => Record<string, unknown>,
    /** A file the command writes as it goes (mksysb's image): its size is polled and heartbeated as bytes done. */
    output?: string,
  ): Promise<{ attached: boolean }> {
    const host = await this.host(hostName);
    const exec = (c: string) => mapSshErrors(() => execIdempotent(host, c, { signal: cancellationSignal() }));
    let state = detached.parseState((await exec(detached.poll(dir, name))).stdout);
    let attached = false;
    let waiter: Waiting | undefined;
    if (state.state === 'exited' && state.code === 0) return { attached: true };
    if (state.state === 'running') attached = true;
    else {
      if (state.state !== 'absent') await exec(detached.forget(dir, name));
      waiter = await startWaiting(host, hostName, what, detached.start(dir, name, cmd, { wait: true }));
      state = waiter.first;
    }
    const t0 = Date.now();
    const interval = this.deps.pollIntervalMs ?? 2000;
    // The starting session reports the end at once, so polls only heartbeat; without it (re-attached, or its session
    // lost) quick first polls catch short commands, doubling up to the configured interval.
    let wait = waiter ? interval : Math.min(interval, 100);
    let ended: Promise<detached.DetachedState | null> = waiter?.final ?? NEVER;
    let bytesDone: number | undefined;
    const signal = cancellationSignal();
    try {
      for (;;) {
        if (state.state === 'exited') {
          if (state.code === 0) return { attached };
          const tail = await exec(detached.outputTail(dir, name, 20)).catch(() => undefined);
          throw commandFailure(hostName, what, { code: state.code, stdout: '', stderr: tail?.stdout ?? '' });
        }
        if (state.state === 'vanished' || state.state === 'stopped' || state.state === 'absent') {
          throw ApplicationFailure.retryable(`${what} on ${hostName} is no longer running and left no exit status (${state.state})`, 'CommandVanished');
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
        const polled = (await exec(output ? shell.seq(detached.poll(dir, name), images.fileSizeOrAbsent(output)) : detached.poll(dir, name))).stdout;
        state = detached.parseState(polled);
        if (output) bytesDone = images.parseSizeOrAbsent(polled) ?? undefined;
      }
    } catch (err) {
      // Cancelled by the workflow (not a worker shutdown, which leaves the command running for the next attempt to
      // re-attach): stop the remote command and everything it started.
      if (signal?.aborted && Context.current().cancellationDetails?.cancelRequested) {
        await mapSshErrors(() => execKilledOnHangup(host, detached.stop(dir, name), {})).catch(() => undefined);
        throw new Error(`${what} on ${hostName}: stopped because the workflow was cancelled`);
      }
      throw err;
    } finally {
      // Never signal that session: the signal would reach the detached command too.
      waiter?.release();
    }
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

/**
 * Runs a command that is safe to run twice (every command of `run` and the polls of detached commands are: queries,
 * chdev/tctl positioning, read-backs, removals), trying again up to twice when the connection was lost before the
 * command reported its exit status (a network drop, an sshd restart), so a blip costs no activity attempt. An exit
 * status that reached the worker is never lost (src/ssh records it as ssh2 parses it); a loss that persists still
 * fails the attempt.
 */
export function execIdempotent(host: SshHost, cmd: string, opts: ExecOptions): Promise<ExecResult> {
  return execKilledOnHangup(host, cmd, { ...opts, retryIfLost: 2 });
}

/**
 * Runs `cmd` so that it dies, with everything it started, when its channel closes early (a cancelled activity, a
 * lost connection, a crashed worker): root's sessions get no SSH signals, and a tape read would hold the drive.
 */
export function execKilledOnHangup(host: SshHost, cmd: string, opts: ExecOptions): Promise<ExecResult> {
  return host.exec(shell.killOnHangup(cmd), { ...opts, lifeline: true });
}

export function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

export function heartbeat(details: Record<string, unknown>): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* outside an activity (unit use) */
  }
}

/** Keeps heartbeating (with the last details) while `fn` runs, so a long command does not look like a dead worker. */
export async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => Record<string, unknown>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return await fn();
  }
  const c = ctx;
  const timer = setInterval(() => c.heartbeat(details?.() ?? c.info.heartbeatDetails), 2000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** SSH errors that retrying cannot fix become non-retryable failures with the same type name. */
export async function mapSshErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isSshError(err)) {
      const type = (err.constructor as { errorType?: string }).errorType ?? err.name;
      if (NON_RETRYABLE_SSH_ERROR_TYPES.includes(type)) throw ApplicationFailure.nonRetryable(err.message, type);
      throw ApplicationFailure.retryable(err.message, type);
    }
    if ((err as Error)?.name === 'ShellValueError') throw ApplicationFailure.nonRetryable((err as Error).message, 'ShellValueError');
    throw err;
  }
}

/** The failure for a command that exited non-zero: missing commands are non-retryable, the rest retryable. */
export function commandFailure(hostName: string, what: string, res: Pick<ExecResult, 'code' | 'stdout' | 'stderr'> & { signal?: string }): ApplicationFailure {
  const msg = lastLines(res.stderr || res.stdout, 4);
  const status = res.code === null ? `signal ${res.signal ?? '?'}` : `exit status ${res.code}`;
  const text = `${what} on ${hostName} failed (${status})${msg ? `: ${msg}` : ''}`;
  if (res.code === 127) {
    return ApplicationFailure.nonRetryable(text, 'CommandNotFound');
  }
  if (/(No such device|does not exist|0514-519|not defined in the device configuration)/i.test(msg) && /\/dev\/|rmt|nst|st\d/.test(msg)) {
    return ApplicationFailure.nonRetryable(text, 'DeviceAbsent');
  }
  return ApplicationFailure.retryable(text, 'CommandFailed');
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').filter(Boolean).slice(-n).join(' | ').slice(0, 600);
}
