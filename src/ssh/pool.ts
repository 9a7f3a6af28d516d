/**
 * The ssh2 connection layer used by activities on the worker: connections reused per host per worker process
 * (sessions.ts), logged in with pinned host keys (connect.ts), buffered and streaming exec with cancellation
 * (exec.ts), SFTP, typed errors (errors.ts). What it reaches of ssh2's private fields is in ssh2-internals.ts.
 *
 * Flow control: ssh2 uses a fixed 2 MiB channel window and 32 KiB packets (not configurable through its API); on a
 * LAN or loopback that keeps the link full (see the figures in connect.ts). Streams are piped with backpressure, so
 * memory stays bounded by the windows and the streams' high-water marks (worker RSS stayed ~130 MiB relaying 2 GiB).
 */
import type { ClientChannel, SFTPWrapper } from 'ssh2';
import type { SshHostRef } from './errors';
import type { ConnectOptions, HostEndpoint } from './connect';
import { execBuffered, execStreamed, type ExecOptions, type ExecResult, type RemoteProcess } from './exec';
import { DEFAULT_MAX_SESSIONS, HostSessions, type SshPoolStats } from './sessions';

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

export interface SshPoolOptions extends ConnectOptions {
  /**
   * Connections per host (default 8): when every connection has its `maxSessions` open, another is opened, and beyond
   * this many a command waits for a session to end.
   */
  maxConnectionsPerHost?: number;
}

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

class PooledHost implements SshHost {
  readonly endpoint: SshHost['endpoint'];
  private readonly sessions: HostSessions;

  constructor(ep: HostEndpoint, opts: SshPoolOptions, counters: SshPoolStats) {
    this.endpoint = Object.freeze({ name: ep.name, address: ep.address, port: ep.port, user: ep.user, hostKey: ep.hostKey });
    const ref: SshHostRef = { name: ep.name, address: ep.address, port: ep.port };
    this.sessions = new HostSessions(ep, ref, opts, Math.max(1, opts.maxConnectionsPerHost ?? 8), counters);
  }

  connect(): Promise<void> {
    return this.sessions.connect();
  }

  close(): Promise<void> {
    return this.sessions.close();
  }

  exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return execBuffered(this.sessions, cmd, opts);
  }

  execStream(cmd: string, opts: { signal?: AbortSignal } = {}): Promise<RemoteProcess> {
    return execStreamed(this.sessions, cmd, opts);
  }

  sftp(): Promise<SFTPWrapper> {
    return this.sessions.openSftp();
  }
}

export type { ClientChannel, SFTPWrapper };
