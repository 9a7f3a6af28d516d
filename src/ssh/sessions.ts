/**
 * One host's connections and the session slots on them. A host gets more connections when one has as many sessions
 * open as its sshd allows (`MaxSessions`), so no session open is ever refused; beyond `maxConnections` a command
 * waits for a slot. A slot is held from before the open until the server has certainly freed the session.
 */
import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { CommandAbortedError, ConnectionLostError, type SshHostRef } from './errors';
import { connect, type ConnectOptions, type HostEndpoint } from './connect';
import { discard, terminate, type ExitResult } from './exec';
import { afterServerReply, socketUsable } from './ssh2-internals';

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
export interface Session {
  ch: ClientChannel;
  exit(): ExitResult | null;
}

export class HostSessions {
  private readonly maxSessions: number;
  private conns: Conn[] = [];
  private connecting: Promise<Conn> | null = null;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly ep: HostEndpoint,
    readonly ref: SshHostRef,
    private readonly opts: ConnectOptions,
    private readonly maxConnections: number,
    private readonly counters: SshPoolStats,
  ) {
    this.maxSessions = Math.max(1, ep.maxSessions ?? DEFAULT_MAX_SESSIONS);
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

  /**
   * Opens an exec session within the host's session limit. The exit status is recorded inside ssh2's own callback:
   * ssh2 handles every packet of one socket read in one synchronous loop, so the exec reply, the output, the
   * exit-status request and the close of a short command can all arrive at once, and an 'exit' listener added after
   * an `await` would miss the status. The slot is freed once the server has caught up with the channel's close.
   */
  async openExec(cmd: string, signal?: AbortSignal): Promise<Session> {
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

  async openSftp(): Promise<SFTPWrapper> {
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
      this.connecting = connect(this.ep, this.ref, this.opts).then(
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
   * A free session slot: on a connection below its limit, else on a new connection (up to `maxConnections`), else
   * the first slot that frees. sshd refuses a session beyond its `MaxSessions` ("open failed"), so the pool never
   * asks for one.
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

  private forget(conn: Conn): void {
    conn.closed = true;
    this.conns = this.conns.filter((c) => c !== conn);
    this.wake();
  }
}

/**
 * Calls `release` once the server has answered a request sent after the channel's close. sshd frees a closed session
 * only at the end of the pass over the packets of one read, so an open sent right behind our close may still find
 * the session counted and be refused; a packet sent after this reply cannot share a read with the close.
 */
function releaseWhenServerCaughtUp(client: Client, release: () => void): void {
  afterServerReply(client, release);
}
