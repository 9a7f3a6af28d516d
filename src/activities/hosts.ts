/**
 * The hosts as the activities see them: the inventory (re-read when the file changes), an SSH connection per host
 * reused within the worker (src/ssh, credentials read here and never passed on), and commands run there whose
 * failures become the right Temporal failures.
 */
import * as fs from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import type { ExecResult, HostEndpoint, SshHost, SshPool } from '../ssh';
import { findOpensshTools, type OpensshTools } from '../ssh/openssh-relay';
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
  /** How images are relayed through the worker (default 'auto'): see RelayVia. */
  relayVia?: RelayVia;
}

/**
 * 'openssh': the worker's own ssh clients (src/ssh/openssh-relay.ts), and a failure when the worker lacks `ssh` or a
 * `setpriv` with `--pdeathsig`; 'ssh2': the worker's ssh2 connections (src/ssh/relay.ts); 'auto': OpenSSH where the
 * worker has it and both hosts log in with a key file, ssh2 otherwise.
 */
export type RelayVia = 'auto' | 'openssh' | 'ssh2';

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
    return this.deps.pool.host(await this.endpoint(name));
  }

  /** The OpenSSH clients to relay with, or undefined for ssh2 (RelayVia). */
  async relayTools(): Promise<OpensshTools | undefined> {
    const via = this.deps.relayVia ?? 'auto';
    if (via === 'ssh2') return undefined;
    const tools = await findOpensshTools();
    if (!tools && via === 'openssh') {
      throw ApplicationFailure.nonRetryable(
        'the worker is set to relay through OpenSSH (MKSYSB_TAPE_RELAY=openssh) but has no ssh, or no setpriv with --pdeathsig (util-linux 2.33 or later), on its PATH',
        'RelayUnavailable',
      );
    }
    return tools;
  }

  /** How to log in to an inventory host, with its credentials: for this worker's own use only. */
  async endpoint(name: string): Promise<HostEndpoint> {
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
    return ep;
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
