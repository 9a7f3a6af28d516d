/**
 * The hosts as the activities see them: the inventory (re-read when the file changes), an SSH connection per host
 * reused within the worker (src/ssh, credentials read here and never passed on), and commands run there whose
 * failures become the right Temporal failures.
 */
import * as fs from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import type { ExecResult, HostEndpoint, SshHost, SshPool } from '../ssh';
import { loadInventory } from '../schema/load-inventory';
import type { Inventory, InventoryHost } from '../schema';
import { cancellationSignal, withHeartbeat } from './context';
import { runDetached, type DetachedProgress } from './detached-run';
import { commandFailure, mapSshErrors } from './failures';
import { execIdempotent } from './remote-exec';

export interface ActivityHostsDeps {
  inventoryPath: string;
  pool: SshPool;
  /** Milliseconds between polls of a detached command (default 2000; tests use less). */
  pollIntervalMs?: number;
}

export class ActivityHosts {
  private cached?: { text: string; inv: Inventory };
  constructor(readonly deps: ActivityHostsDeps) {}

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
  async run(hostName: string, what: string, cmd: string, opts: { allowExit?: readonly number[]; timeoutMs?: number } = {}): Promise<ExecResult> {
    const host = await this.host(hostName);
    const res = await withHeartbeat(() =>
      mapSshErrors(() => execIdempotent(host, cmd, { signal: cancellationSignal(), timeoutMs: opts.timeoutMs })),
    );
    if (res.code === 0 || (res.code !== null && opts.allowExit?.includes(res.code))) return res;
    throw commandFailure(hostName, what, res);
  }

  /** Runs `cmd` detached on the host, or re-attaches to an earlier attempt's run of it: see detached-run.ts. */
  runDetached(
    hostName: string,
    what: string,
    dir: string,
    name: string,
    cmd: string,
    progress: DetachedProgress,
    /** A file the command writes as it goes (mksysb's image): its size is polled and heartbeated as bytes done. */
    output?: string,
  ): Promise<{ attached: boolean }> {
    return runDetached(this, hostName, what, dir, name, cmd, progress, output);
  }
}
