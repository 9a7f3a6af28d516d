/**
 * The relay through the worker's own OpenSSH client: `ssh src CMD | ssh dst CMD`, the two ssh processes joined by a
 * kernel pipe (a FIFO in a private folder), so the bytes never pass through Node and the ciphers of the two
 * connections run in two processes on two cores. ssh2 does both connections' crypto and socket writes for every byte
 * in the one worker thread, which on a slow or busy machine is slower than the operator's `ssh | ssh` (BENCHMARKS.md,
 * "Relay profile").
 *
 * What the ssh2 relay keeps, this one keeps too:
 * - the pinned host key: each ssh reads only a known_hosts file of the one pinned key (`HostKeyAlias`, strict
 *   checking, the pinned key's algorithms only) and no user or system configuration (`-F /dev/null`);
 * - the credentials stay on the worker: the key is copied into the private folder (0600) for the length of the relay;
 * - no process outlives the worker: each ssh is started by `setpriv --pdeathsig KILL`, so a worker that dies (even by
 *   SIGKILL) takes its ssh processes with it and nothing keeps writing into a copy that a retry resumes;
 * - typed failures: a refused key, a changed host key, an unreachable host and a dropped connection are the same
 *   SshError classes as on ssh2 (ssh exits 255 and says which on stderr).
 * What it cannot do is strip a login banner in between: the destination command reads the data marker itself (a
 * framed writer, src/tape/transfer.ts), and the caller counts bytes from the tape host's copy.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { CIPHERS, hostKeyAlgorithms, type HostEndpoint } from './connect';
import { AuthenticationError, CommandAbortedError, ConnectError, ConnectionLostError, HostKeyMismatchError, type SshError, type SshHostRef } from './errors';
import type { ExitResult } from './exec';
import { fingerprint, parsePinnedKey } from './hostkey';

const run = promisify(execFile);

/** The worker's programs this relay needs, found on PATH; undefined when one is missing (then ssh2 relays). */
export interface OpensshTools {
  ssh: string;
  setpriv: string;
}

let found: Promise<OpensshTools | undefined> | undefined;

/** A relay's private dir is `<tmpdir>/mksysb-relay-<worker pid>-XXXXXX`: the pid says whose it is. */
const DIR_PREFIX = 'mksysb-relay-';

/**
 * A worker killed mid-relay cannot remove its private dir, which holds copies of the hosts' keys (0600): the next
 * worker on the machine removes the dirs of workers that are gone. A live worker's dirs are left alone.
 */
export async function sweepStaleRelayDirs(tmp = os.tmpdir()): Promise<string[]> {
  const names = await fs.promises.readdir(tmp).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    const m = new RegExp(`^${DIR_PREFIX}(\\d+)-`).exec(name);
    if (!m || processExists(Number(m[1]))) continue;
    await fs.promises.rm(path.join(tmp, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, under another user
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Looks for `ssh` and `setpriv` (util-linux) once per process. */
export function findOpensshTools(): Promise<OpensshTools | undefined> {
  found ??= (async () => {
    await sweepStaleRelayDirs();
    const which = async (name: string): Promise<string | undefined> => {
      for (const dir of (process.env.PATH ?? '').split(':')) {
        if (!dir) continue;
        const p = path.join(dir, name);
        if (await fs.promises.access(p, fs.constants.X_OK).then(() => true, () => false)) return p;
      }
      return undefined;
    };
    const [ssh, setpriv] = await Promise.all([which('ssh'), which('setpriv')]);
    if (!ssh || !setpriv || process.platform !== 'linux') return undefined;
    // An older util-linux has setpriv without --pdeathsig: then the relay would not be safe, so ssh2 relays.
    const works = await run(setpriv, ['--pdeathsig', 'KILL', ssh, '-V']).then(() => true, () => false);
    return works ? { ssh, setpriv } : undefined;
  })();
  return found;
}

/** Can this endpoint be reached by the OpenSSH relay? A key file without a passphrase: an agent or a passphrase can't. */
export function opensshCanLogIn(ep: HostEndpoint): boolean {
  return ep.privateKey !== undefined && ep.passphrase === undefined && ep.agent === undefined && ep.hostKey.trim() !== '';
}

export interface OpensshRelayResult {
  source: ExitResult & { stderr: string };
  /** The destination command's exit, stderr tail and the last 4 KiB of its stdout (e.g. a digest it printed). */
  destination: ExitResult & { stderr: string; stdout: string };
}

/**
 * Runs `srcCmd` on `src` and `dstCmd` on `dst`, the first's stdout into the second's stdin, and resolves when both
 * have exited. Like relay(): it does not judge exit statuses; a dropped connection or a refused login rejects with
 * the SshError, an abort with CommandAbortedError, and either side ending early stops the other.
 */
export async function opensshRelay(
  tools: OpensshTools,
  src: HostEndpoint,
  srcCmd: string,
  dst: HostEndpoint,
  dstCmd: string,
  opts: { signal?: AbortSignal } = {},
): Promise<OpensshRelayResult> {
  if (opts.signal?.aborted) throw new CommandAbortedError(ref(src));
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `${DIR_PREFIX}${process.pid}-`));
  let from: SshProcess | undefined;
  let to: SshProcess | undefined;
  const onAbort = (): void => {
    from?.kill();
    to?.kill();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const fifo = path.join(dir, 'pipe');
    await run('mkfifo', ['-m', '600', fifo]);
    const srcArgs = await sshArgs(dir, 'src', src, srcCmd);
    const dstArgs = await sshArgs(dir, 'dst', dst, dstCmd);
    // A blocking open of a FIFO waits for its other end on one of libuv's few threads: relays started together
    // would take them all with opens whose other ends wait in the queue behind, and stall the worker's whole fs.
    // Opened non-blocking, the read end returns at once, and the write end finds its reader. ssh makes its stdin
    // non-blocking itself, so the flag the destination inherits changes nothing for it.
    const r = await fs.promises.open(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const w = await fs.promises.open(fifo, fs.constants.O_WRONLY);
      try {
        to = startSsh(tools, dst, dstArgs, [r.fd, 'pipe', 'pipe']);
        from = startSsh(tools, src, srcArgs, ['ignore', w.fd, 'pipe']);
      } finally {
        await w.close();
      }
    } finally {
      // The children hold their ends now: the destination sees EOF when the source's ssh exits.
      await r.close();
    }
    const [srcExit, dstExit] = await bothExits(from, to);
    if (opts.signal?.aborted) throw new CommandAbortedError(ref(src));
    return {
      source: { ...srcExit, stderr: from.stderr() },
      destination: { ...dstExit, stderr: to.stderr(), stdout: to.stdout() },
    };
  } catch (e) {
    from?.kill();
    to?.kill();
    if (opts.signal?.aborted) throw new CommandAbortedError(ref(src));
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Waits for both ssh processes. The source's ssh closes its stdout when the remote command's output ends and exits a
 * moment later, so a destination that read to that EOF may exit first: that is a finished relay, and the source is
 * left to exit by itself. A destination that fails has stopped reading, so the source is stopped (a source still
 * writing would end on EPIPE anyway; one that is not could wait forever), and its end is not a failure of its own.
 * A source whose ssh fails stops the destination: the data it got is short.
 */
async function bothExits(from: SshProcess, to: SshProcess): Promise<[ExitResult, ExitResult]> {
  const [srcExit, dstExit] = await Promise.allSettled([
    from.exit.catch((e: unknown) => {
      to.kill();
      throw e;
    }),
    to.exit.then(
      (x) => {
        if (x.code !== 0) from.kill();
        return x;
      },
      (e: unknown) => {
        from.kill();
        throw e;
      },
    ),
  ]);
  if (dstExit.status === 'rejected') throw dstExit.reason;
  if (dstExit.value.code !== 0 && !dstExit.value.killed) {
    // The destination's failure is the one to report; the source stopped because of it, or ended on EPIPE.
    return [srcExit.status === 'fulfilled' ? srcExit.value : { code: null, killed: true }, dstExit.value];
  }
  if (srcExit.status === 'rejected') throw srcExit.reason;
  return [srcExit.value, dstExit.value];
}

function ref(ep: HostEndpoint): SshHostRef {
  return { name: ep.name, address: ep.address, port: ep.port };
}

/** The ssh command line for one host: its key and its pinned host key in `dir`, nothing from any ssh_config. */
async function sshArgs(dir: string, side: string, ep: HostEndpoint, cmd: string): Promise<string[]> {
  const pinned = parsePinnedKey(ep.hostKey);
  const knownHosts = path.join(dir, `${side}.known_hosts`);
  const identity = path.join(dir, `${side}.key`);
  await fs.promises.writeFile(knownHosts, `pinned ${pinned.type} ${pinned.blob.toString('base64')}\n`, { mode: 0o600 });
  await fs.promises.writeFile(identity, ep.privateKey!, { mode: 0o600 });
  const o = (k: string, v: string | number): string[] => ['-o', `${k}=${v}`];
  return [
    '-F', '/dev/null', '-T', '-x', '-a', '-e', 'none',
    ...o('BatchMode', 'yes'),
    ...o('StrictHostKeyChecking', 'yes'),
    ...o('HostKeyAlias', 'pinned'),
    ...o('UserKnownHostsFile', knownHosts),
    ...o('GlobalKnownHostsFile', '/dev/null'),
    ...o('HostKeyAlgorithms', hostKeyAlgorithms(pinned.type).join(',')),
    ...o('CheckHostIP', 'no'),
    ...o('UpdateHostKeys', 'no'),
    ...o('IdentitiesOnly', 'yes'),
    ...o('IdentityFile', identity),
    ...o('IdentityAgent', 'none'),
    ...o('Ciphers', CIPHERS.join(',')),
    // As connect.ts: a dead peer is noticed in ~15 s, a handshake gives up after 20.
    ...o('ServerAliveInterval', 5),
    ...o('ServerAliveCountMax', 3),
    ...o('ConnectTimeout', 20),
    ...o('ControlMaster', 'no'),
    ...o('ControlPath', 'none'),
    ...o('LogLevel', 'ERROR'),
    '-p', String(ep.port), '-l', ep.user, ep.address,
    '--', cmd,
  ];
}

interface SshProcess {
  /** The command's exit; rejects with the SshError when ssh itself failed (status 255 and its message). */
  exit: Promise<ExitResult>;
  /** True once the process has exited. */
  ended: boolean;
  stderr(): string;
  stdout(): string;
  kill(): void;
}

const TAIL = 64 * 1024;

function startSsh(tools: OpensshTools, ep: HostEndpoint, args: string[], stdio: ['ignore' | number, 'pipe' | number, 'pipe']): SshProcess {
  const child: ChildProcess = spawn(tools.setpriv, ['--pdeathsig', 'KILL', tools.ssh, ...args], { stdio });
  let err = '';
  let out = '';
  child.stderr?.on('data', (d: Buffer) => {
    err = (err + d.toString('utf8')).slice(-TAIL);
  });
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString('latin1')).slice(-4096);
  });
  let killed = false;
  const p: SshProcess = {
    ended: false,
    exit: new Promise<ExitResult>((resolve, reject) => {
      child.once('error', (e) => reject(new ConnectError(ref(ep), `cannot start ${tools.ssh}: ${e.message}`)));
      child.once('close', (code, signal) => {
        p.ended = true;
        if (killed) return resolve({ code: null, ...(signal ? { signal } : {}), killed: true });
        if (code === 255) return reject(sshFailure(ep, err));
        resolve({ code, ...(signal ? { signal } : {}) });
      });
    }),
    stderr: () => err,
    stdout: () => out,
    kill: () => {
      if (p.ended) return;
      killed = true;
      child.kill('SIGTERM');
    },
  };
  // The relay awaits the exits only once both ssh clients have started and its FIFO ends are closed; an ssh that
  // fails before then (a closed port is refused in milliseconds) must not count as an unhandled rejection: the
  // relay still sees it, through bothExits.
  p.exit.catch(() => undefined);
  return p;
}

/**
 * What ssh's status 255 meant, from what it printed. A remote command that itself exits 255 or dies of a signal also
 * ends ssh with 255: that reads as a lost connection, which is retried like one.
 */
export function sshFailure(ep: HostEndpoint, stderr: string): SshError {
  const h = ref(ep);
  const said = stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join('; ') || 'ssh exited with status 255';
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No [A-Z0-9-]+ host key is known/i.test(stderr)) {
    const seen = /SHA256:[A-Za-z0-9+/]+/.exec(stderr)?.[0] ?? 'another key';
    return new HostKeyMismatchError(h, seen, fingerprint(parsePinnedKey(ep.hostKey).blob));
  }
  if (/Permission denied|Too many authentication failures/i.test(stderr)) return new AuthenticationError(h, ep.user, said);
  if (/Connection refused|Connection timed out|Could not resolve|No route to host|Network is unreachable|kex_exchange_identification/i.test(stderr)) {
    return new ConnectError(h, said);
  }
  return new ConnectionLostError(h, said);
}
