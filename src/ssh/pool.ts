/**
 * The ssh2 connection layer used by activities on the worker: one reused connection per host per worker process,
 * pinned host keys, typed errors, buffered and streaming exec with cancellation, SFTP. A host gets more connections
 * when one has as many sessions open as its sshd allows (`MaxSessions`), so no session open is ever refused.
 *
 * Cipher choice: `aes128-gcm@openssh.com` first. It is AEAD (no separate MAC pass) and runs on AES-NI; AIX's OpenSSH
 * offers it since 6.2. `aes256-gcm`, then the CTR modes (with ETM MACs) and chacha20 follow for older servers.
 * Measured relaying 1-2 GiB between two local sshd through one worker (2 vCPU, everything on one machine):
 * aes128-gcm ~250-275 MiB/s, the same as `ssh a cat | ssh b 'cat >'` with aes128-gcm (~250 MiB/s); aes128-ctr
 * ~150 MiB/s; chacha20-poly1305 ~155 MiB/s.
 * ssh2's optional native crypto binding (`sshcrypto.node`, built by node-gyp at `npm install`) matters: without it
 * the same relay runs at ~50 MiB/s (see `nativeSshCrypto()`). `cpu-features`, the other optional part, only reorders
 * ssh2's default cipher list, which our explicit list makes irrelevant; everything works without either.
 *
 * Flow control: ssh2 uses a fixed 2 MiB channel window and 32 KiB packets (not configurable through its API); on a
 * LAN or loopback that keeps the link full, as the figures above show. Streams are piped with backpressure
 * (stream.pipeline), so memory stays bounded by the windows and the streams' high-water marks (worker RSS stayed
 * ~130 MiB relaying 2 GiB).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client, type CipherAlgorithm, type ClientChannel, type ConnectConfig, type SFTPWrapper, type ServerHostKeyAlgorithm } from 'ssh2';
import {
  AuthenticationError,
  CommandAbortedError,
  CommandTimeoutError,
  ConnectError,
  ConnectionLostError,
  HostKeyMismatchError,
  OutputTooLargeError,
  SshError,
  type SshHostRef,
  UnknownHostKeyError,
} from './errors';
import { fingerprint, parsePinnedKey } from './hostkey';
import { killOnHangup } from '../tape/shell';

export interface HostEndpoint {
  /** Inventory name, used in messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key content (resolved on the worker, never part of workflow data). */
  privateKey?: Buffer | string;
  passphrase?: string;
  /** ssh-agent socket path. */
  agent?: string;
  /** Pinned public host key, `ssh-ed25519 AAAA...` (a known_hosts line's key part, or the whole line). */
  hostKey: string;
  /** Sessions the host's sshd allows on one connection (its `MaxSessions`; default 10, OpenSSH's). */
  maxSessions?: number;
}

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
   * Kill the remote command and everything it started when its channel closes early (abort, timeout, dropped
   * connection, crashed worker): see `killOnHangup` in src/tape/shell.ts. Default true for commands without `stdin`
   * (stdin is then held open as the lifeline); ignored when `stdin` is given. Pass false for a command that starts
   * something meant to outlive the session (a detached start).
   */
  killOnHangup?: boolean;
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

export interface SshHost {
  readonly endpoint: Readonly<Omit<HostEndpoint, 'privateKey' | 'passphrase' | 'agent'>>;
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a command and hands back its streams; the caller reads/pipes them and awaits `exit`. */
  execStream(cmd: string, opts?: { signal?: AbortSignal }): Promise<RemoteProcess>;
  sftp(): Promise<SFTPWrapper>;
  /** Connects now if not connected (exec and friends connect lazily). */
  connect(): Promise<void>;
  /** Closes this host's connection; the next call reconnects. */
  close(): Promise<void>;
}

export interface SshPoolOptions {
  /** Keepalive probe interval (default 5000 ms); with keepaliveCountMax 3 a dead peer is noticed in ~15 s. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Handshake timeout (default 20000 ms). */
  readyTimeoutMs?: number;
  /** Overrides of ssh2's algorithm lists (cipher, kex, hmac, ...). */
  algorithms?: ConnectConfig['algorithms'];
  /** ssh2's protocol trace (it prints no key material, but does print commands). */
  debug?: (message: string) => void;
  /**
   * Connections per host (default 8): when every connection has its `maxSessions` open, another is opened, and beyond
   * this many a command waits for a session to end.
   */
  maxConnectionsPerHost?: number;
}

/** Ciphers offered, best first (see the module comment). */
export const CIPHERS: CipherAlgorithm[] = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes256-ctr',
  'chacha20-poly1305@openssh.com',
];

const STDERR_TAIL = 64 * 1024;
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

/** Host-key algorithms that present a key of the pinned type (so negotiation cannot pick another key of the host). */
function hostKeyAlgorithms(type: string): string[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [type];
}

/** True when ssh2's native crypto binding loaded (without it, bulk transfers are ~5x slower). */
export function nativeSshCrypto(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return Boolean((require('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable);
  } catch {
    return false;
  }
}

/** Counters of a pool since it was made, for tests, benchmarks and logs. */
export interface SshPoolStats {
  /** SSH connections opened (logged in). */
  connectionsOpened: number;
  /** Sessions (exec channels and SFTP) opened. */
  sessionsOpened: number;
  /** Session opens the server refused on a live connection ("open failed": its `MaxSessions` was reached). */
  refusedOpens: number;
  /** The most sessions ever open at once on one connection. */
  maxSessionsInUse: number;
}

/** OpenSSH's `MaxSessions` default, AIX's OpenSSH included. */
export const DEFAULT_MAX_SESSIONS = 10;

export class SshPool {
  private readonly hosts = new Map<string, PooledHost>();
  private readonly counters: SshPoolStats = { connectionsOpened: 0, sessionsOpened: 0, refusedOpens: 0, maxSessionsInUse: 0 };
  constructor(private readonly opts: SshPoolOptions = {}) {}

  /** The host's pooled connections (lazy: nothing connects until the first command). */
  host(ep: HostEndpoint): SshHost {
    const key = `${ep.name}\0${ep.user}@${ep.address}:${ep.port}\0${ep.hostKey.trim()}\0${ep.maxSessions ?? DEFAULT_MAX_SESSIONS}`;
    let h = this.hosts.get(key);
    if (!h) {
      h = new PooledHost(ep, this.opts, this.counters);
      this.hosts.set(key, h);
    }
    return h;
  }

  stats(): SshPoolStats {
    return { ...this.counters };
  }

  async closeAll(): Promise<void> {
    const all = [...this.hosts.values()];
    this.hosts.clear();
    await Promise.all(all.map((h) => h.close()));
  }
}

/** One logged-in connection and the sessions open on it. */
interface Conn {
  client: Client;
  inUse: number;
  /** Sessions we may open on it: the host's limit, lowered while the server refuses opens below it (see `refused`). */
  limit: number;
  closed: boolean;
}

/** A session slot on a connection, held from before the open until the server has certainly freed the session. */
interface Lease {
  conn: Conn;
  release(): void;
}

/** A channel whose exit status was recorded from the moment it existed (see `openExec`). */
interface Session {
  ch: ClientChannel;
  exit(): ExitResult | null;
}

class PooledHost implements SshHost {
  readonly endpoint: SshHost['endpoint'];
  private readonly ref: SshHostRef;
  private readonly maxSessions: number;
  private readonly maxConnections: number;
  private conns: Conn[] = [];
  private connecting: Promise<Conn> | null = null;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly ep: HostEndpoint,
    private readonly opts: SshPoolOptions,
    private readonly counters: SshPoolStats,
  ) {
    this.endpoint = Object.freeze({ name: ep.name, address: ep.address, port: ep.port, user: ep.user, hostKey: ep.hostKey });
    this.ref = { name: ep.name, address: ep.address, port: ep.port };
    this.maxSessions = Math.max(1, ep.maxSessions ?? DEFAULT_MAX_SESSIONS);
    this.maxConnections = Math.max(1, opts.maxConnectionsPerHost ?? 8);
  }

  async connect(): Promise<void> {
    if (!this.live().length) await this.openConn();
  }

  async close(): Promise<void> {
    const pending = await this.connecting?.catch(() => null);
    const all = [...this.conns, ...(pending ? [pending] : [])];
    this.conns = [];
    this.connecting = null;
    this.wake();
    await Promise.all(all.map(async (conn) => {
      conn.closed = true;
      const c = conn.client;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          c.destroy();
          resolve();
        }, 2000);
        c.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        c.end();
      });
    }));
  }

  /** Connections still usable; ssh2 may notice a dead socket before its 'close' event reaches us. */
  private live(): Conn[] {
    this.conns = this.conns.filter((c) => !c.closed && socketUsable(c.client));
    return this.conns;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private openConn(): Promise<Conn> {
    if (!this.connecting) {
      this.connecting = this.open().then(
        (client) => {
          this.counters.connectionsOpened++;
          const conn: Conn = { client, inUse: 0, limit: this.maxSessions, closed: false };
          this.connecting = null;
          this.conns.push(conn);
          client.once('close', () => {
            conn.closed = true;
            this.conns = this.conns.filter((c) => c !== conn);
            this.wake();
          });
          this.wake();
          return conn;
        },
        (e: unknown) => {
          this.connecting = null;
          this.wake();
          throw e;
        },
      );
    }
    return this.connecting;
  }

  /**
   * A free session slot: on a connection below its limit, else on a new connection (up to `maxConnectionsPerHost`),
   * else the first slot that frees. sshd refuses a session beyond its `MaxSessions` ("open failed"), so the pool
   * never asks for one.
   */
  private async acquire(signal?: AbortSignal): Promise<Lease> {
    for (;;) {
      if (signal?.aborted) throw new CommandAbortedError(this.ref);
      const conn = this.live().find((c) => c.inUse < c.limit);
      if (conn) {
        conn.inUse++;
        this.counters.maxSessionsInUse = Math.max(this.counters.maxSessionsInUse, conn.inUse);
        return this.lease(conn);
      }
      if (this.connecting || this.conns.length < this.maxConnections) {
        await this.openConn();
        continue;
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = (): void => reject(new CommandAbortedError(this.ref));
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        });
      });
    }
  }

  private lease(conn: Conn): Lease {
    let released = false;
    return {
      conn,
      release: () => {
        if (released) return;
        released = true;
        conn.inUse--;
        // A limit lowered by a refusal is probed again, one session at a time, as sessions end.
        if (conn.limit < this.maxSessions) conn.limit++;
        this.wake();
      },
    };
  }

  /**
   * The server refused a session on a live connection below our limit: sessions we closed are still counted there
   * (sshd keeps a session until the command we hung up on has exited). Use no more than we have now on this
   * connection until one of ours ends.
   */
  private refused(conn: Conn): boolean {
    this.counters.refusedOpens++;
    const others = conn.inUse - 1;
    if (others < 1) return false;
    conn.limit = others;
    return true;
  }

  private open(): Promise<Client> {
    const ep = this.ep;
    const ref = this.ref;
    let pinned: { type: string; blob: Buffer } | null = null;
    if (ep.hostKey && ep.hostKey.trim() !== '') {
      pinned = parsePinnedKey(ep.hostKey);
    }
    return new Promise<Client>((resolve, reject) => {
      const client = new Client();
      let hostKeyError: SshError | null = null;
      let settled = false;
      const fail = (e: SshError): void => {
        if (settled) return;
        settled = true;
        client.destroy();
        reject(e);
      };
      client.once('ready', () => {
        if (settled) return;
        settled = true;
        client.removeAllListeners('error');
        // After ready, errors only end the connection: commands in flight see their channel close.
        client.on('error', () => undefined);
        resolve(client);
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (hostKeyError) return fail(hostKeyError);
        if (err.level === 'client-authentication') {
          return fail(new AuthenticationError(ref, ep.user, 'all offered keys were refused'));
        }
        if (err.level === 'agent') return fail(new AuthenticationError(ref, ep.user, `ssh-agent: ${err.message}`));
        fail(new ConnectError(ref, err.message, err.code ?? err.level));
      });
      client.once('close', () => fail(hostKeyError ?? new ConnectError(ref, 'connection closed during the handshake')));
      const config: ConnectConfig = {
        host: ep.address,
        port: ep.port,
        username: ep.user,
        readyTimeout: this.opts.readyTimeoutMs ?? 20000,
        keepaliveInterval: this.opts.keepaliveIntervalMs ?? 5000,
        keepaliveCountMax: this.opts.keepaliveCountMax ?? 3,
        ...(this.opts.debug ? { debug: this.opts.debug } : {}),
        algorithms: {
          cipher: [...CIPHERS],
          ...(pinned ? { serverHostKey: hostKeyAlgorithms(pinned.type) as ServerHostKeyAlgorithm[] } : {}),
          ...this.opts.algorithms,
        },
        hostVerifier: (key: Buffer): boolean => {
          const seen = fingerprint(key);
          if (!pinned) {
            hostKeyError = new UnknownHostKeyError(ref, seen);
            return false;
          }
          if (!key.equals(pinned.blob)) {
            hostKeyError = new HostKeyMismatchError(ref, seen, fingerprint(pinned.blob));
            return false;
          }
          return true;
        },
      };
      if (ep.privateKey !== undefined) config.privateKey = ep.privateKey;
      if (ep.passphrase !== undefined) config.passphrase = ep.passphrase;
      if (ep.agent !== undefined) config.agent = ep.agent;
      if (ep.privateKey === undefined && ep.agent === undefined) {
        return fail(new AuthenticationError(ref, ep.user, 'no private key or agent configured'));
      }
      try {
        client.connect(config);
      } catch (e) {
        // ssh2 throws synchronously for an unreadable key or a bad passphrase: the message names no key material.
        const msg = e instanceof Error ? e.message : String(e);
        fail(new AuthenticationError(ref, ep.user, `cannot use the private key: ${msg.replace(/-----BEGIN[\s\S]*/, '')}`));
      }
    });
  }

  /**
   * Opens an exec session within the host's session limit. The exit status is recorded inside ssh2's own callback:
   * ssh2 handles every packet of one socket read in one synchronous loop, so the exec reply, the output, the
   * exit-status request and the close of a short command can all arrive at once, and an 'exit' listener added after
   * an `await` would miss the status. The slot is freed once the server has caught up with the channel's close.
   */
  private async openExec(cmd: string, signal?: AbortSignal): Promise<Session> {
    for (let attempt = 0; ; attempt++) {
      const lease = await this.acquire(signal);
      const client = lease.conn.client;
      const opened = await new Promise<Session | 'refused' | 'stale'>((resolve, reject) => {
        try {
          client.exec(cmd, (err, ch) => {
            if (err) {
              lease.release();
              const dead = !socketUsable(client);
              if (dead) this.forget(lease.conn);
              // OpenSSH refuses a session beyond MaxSessions with "open failed" (reason CONNECT_FAILED, sshd's
              // default for any refused open), so a refusal on a live connection is taken as "full", whatever the code.
              if (!dead && this.refused(lease.conn)) {
                return resolve('refused');
              }
              return reject(new ConnectionLostError(this.ref, `cannot open a session: ${err.message}`));
            }
            let exit: ExitResult | null = null;
            ch.on('exit', (code: number | null, sig?: string) => {
              exit = sig ? { code: null, signal: sig } : { code };
            });
            ch.on('error', () => undefined);
            ch.once('close', () => releaseWhenServerCaughtUp(client, lease.release));
            if (signal?.aborted) {
              terminate(ch);
              discard(ch);
              return reject(new CommandAbortedError(this.ref));
            }
            resolve({ ch, exit: () => exit });
          });
        } catch (e) {
          // ssh2 throws "Not connected" at once when the socket went away before its 'close' event reached us.
          lease.release();
          this.forget(lease.conn);
          if (attempt === 0) return resolve('stale');
          reject(new ConnectionLostError(this.ref, e instanceof Error ? e.message : String(e)));
        }
      });
      if (opened === 'stale') continue;
      if (opened === 'refused') {
        if (attempt < this.maxSessions * this.maxConnections) continue;
        throw new ConnectionLostError(this.ref, 'cannot open a session: the server keeps refusing new sessions (open failed)');
      }
      this.counters.sessionsOpened++;
      return opened;
    }
  }

  private forget(conn: Conn): void {
    conn.closed = true;
    this.conns = this.conns.filter((c) => c !== conn);
    this.wake();
  }

  async exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const retries = opts.stdin === undefined ? (opts.retryIfLost ?? 0) : 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.execOnce(cmd, opts);
      } catch (err) {
        if (!(err instanceof ConnectionLostError) || attempt >= retries || opts.signal?.aborted) throw err;
      }
    }
  }

  private async execOnce(cmd: string, opts: ExecOptions): Promise<ExecResult> {
    const lifeline = opts.stdin === undefined && opts.killOnHangup !== false;
    const { ch, exit } = await this.openExec(lifeline ? killOnHangup(cmd) : cmd, opts.signal);
    const maxBuffer = opts.maxBuffer ?? DEFAULT_MAX_BUFFER;
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let failure: SshError | null = null;
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => stop(new CommandAbortedError(this.ref));
      const stop = (e: SshError): void => {
        if (failure) return;
        failure = e;
        terminate(ch);
      };
      const take = (list: Buffer[]) => (d: Buffer) => {
        size += d.length;
        if (size > maxBuffer) stop(new OutputTooLargeError(this.ref, maxBuffer));
        else list.push(d);
      };
      ch.on('data', take(out));
      ch.stderr.on('data', take(err));
      ch.once('close', () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (failure) return reject(failure);
        const status = exit();
        if (!status) {
          return reject(new ConnectionLostError(this.ref, 'the channel closed before the command reported its exit status'));
        }
        resolve({ ...status, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => stop(new CommandTimeoutError(this.ref, opts.timeoutMs!)), opts.timeoutMs);
      const input = opts.stdin;
      if (input === undefined) {
        // The lifeline: stdin stays open until the command exits (sshd then closes the channel).
        if (!lifeline) ch.end();
      }
      else if (typeof input === 'string' || Buffer.isBuffer(input)) ch.end(input);
      else pipeline(input as NodeJS.ReadableStream, ch).catch(() => stop(new ConnectionLostError(this.ref, 'stdin stream failed')));
    });
  }

  async execStream(cmd: string, opts: { signal?: AbortSignal } = {}): Promise<RemoteProcess> {
    const { ch, exit } = await this.openExec(cmd, opts.signal);
    const ref = this.ref;
    let tail = Buffer.alloc(0);
    ch.stderr.on('data', (d: Buffer) => {
      tail = Buffer.concat([tail, d]);
      if (tail.length > STDERR_TAIL) tail = tail.subarray(tail.length - STDERR_TAIL);
    });
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
        if (!status) return reject(new ConnectionLostError(ref, 'the channel closed before the command reported its exit status'));
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
      stderrTail: () => tail.toString('utf8'),
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

  async sftp(): Promise<SFTPWrapper> {
    const lease = await this.acquire();
    const client = lease.conn.client;
    return new Promise<SFTPWrapper>((resolve, reject) => {
      client.sftp((err, sftp) => {
        if (err) {
          lease.release();
          if (!socketUsable(client)) this.forget(lease.conn);
          reject(new ConnectionLostError(this.ref, `cannot open SFTP: ${err.message}`));
          return;
        }
        this.counters.sessionsOpened++;
        sftp.once('close', () => releaseWhenServerCaughtUp(client, lease.release));
        resolve(sftp);
      });
    });
  }
}

function socketUsable(client: Client): boolean {
  const sock = (client as unknown as { _sock?: { writable?: boolean; destroyed?: boolean } })._sock;
  return Boolean(sock && !sock.destroyed && sock.writable !== false);
}

/**
 * Calls `release` once the server has answered a request sent after the channel's close. sshd frees a closed session
 * only at the end of the pass over the packets of one read, so an open sent right behind our close may still find
 * the session counted and be refused; a packet sent after this reply cannot share a read with the close. Without a
 * live connection there is no server to wait for.
 */
function releaseWhenServerCaughtUp(client: Client, release: () => void): void {
  const c = client as unknown as { _callbacks?: Array<(hadErr: boolean) => void>; _protocol?: { ping(): void } };
  if (!socketUsable(client) || !Array.isArray(c._callbacks) || !c._protocol) return release();
  try {
    // ssh2 answers global-request replies in order from `_callbacks` (its own keepalive does the same).
    c._callbacks.push(() => release());
    c._protocol.ping();
  } catch {
    release();
  }
}
/**
 * Drops whatever the channel still holds or receives: ssh2 reports a channel's close only after its stdout has
 * ended, which never happens while a pipe to a dead destination keeps it paused.
 */
function discard(ch: ClientChannel): void {
  ch.unpipe();
  ch.resume();
}

/**
 * Stops a remote command: an SSH "signal" request (OpenSSH ≥ 7.9 delivers it to the session's process group; older
 * servers ignore it), then closes the channel, which also ends its stdin and breaks its stdout pipe.
 */
function terminate(ch: ClientChannel): void {
  // ssh2's Channel.signal() sends nothing once our side has sent EOF (stdin ended), which is the normal state of a
  // command without input; the request itself is valid until the channel is closed, so send it through the protocol.
  const c = ch as unknown as {
    type?: string;
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, sig: string): void } };
  };
  try {
    if (c.type === 'session' && c.outgoing && (c.outgoing.state === 'open' || c.outgoing.state === 'eof')) {
      c._client?._protocol?.signal(c.outgoing.id, 'TERM');
    }
  } catch {
    /* channel already closing */
  }
  try {
    ch.close();
  } catch {
    /* already closed */
  }
}

export type { ClientChannel, SFTPWrapper };
