/**
 * `mksysb-tape inventory check`: connects to every host of the inventory the way the worker does (src/ssh's SshPool
 * with the pinned host key and the key the inventory names) and checks what a backup needs there: the host key, the
 * commands of each role, the work folder and its free space. Run it where the worker runs: key paths are the worker's.
 */
import { readFile } from 'node:fs/promises';
import { loadInventory } from '../schema/load-inventory';
import { hostHasRole, type Inventory, type InventoryHost } from '../schema';
import { SshPool, SshError, HostKeyMismatchError, UnknownHostKeyError, AuthenticationError, type HostEndpoint, type SshHost } from '../ssh';
import { freeSpace, parseDf } from '../tape/images';
import { commandPath, folderExists } from '../tape/inventory';
import { killOnHangup } from '../tape/shell';
import { formatBytes } from './format';

/** Commands each role needs on each OS (see AIX-TAPE.md: the procedure and "AIX userland"). */
export const REQUIRED_COMMANDS = {
  source: { aix: ['bosboot', 'mkinsttape', 'mksysb', 'openssl'], linux: [] as string[] },
  tape: { aix: ['tctl', 'chdev', 'lsmksysb', 'restore', 'dd', 'openssl', 'mkfifo', 'tee', 'od'], linux: ['mt', 'dd', 'sha256sum', 'mkfifo', 'tee', 'od'] },
} as const;

export interface HostCheck {
  host: string;
  address: string;
  port: number;
  os: string;
  roles: string[];
  ok: boolean;
  /** What is wrong and what to do, one sentence each. */
  problems: string[];
  connected: boolean;
  hostKey: 'ok' | 'mismatch' | 'not pinned' | 'not checked';
  /** Command name → path found, or null when missing. */
  commands: Record<string, string | null>;
  workFolder: { path: string; exists: boolean | null; freeBytes?: number; totalBytes?: number };
  devices?: string[];
}

export interface InventoryCheckReport {
  inventoryPath: string;
  ok: boolean;
  /** Set when the file itself could not be read or is invalid (then `hosts` is empty). */
  inventoryError?: string;
  hosts: HostCheck[];
}

export interface InventoryCheckOptions {
  /** Only these hosts (default all). */
  hosts?: string[];
  /** A work folder with less free space is a problem. Default 1 GiB. */
  minFreeBytes?: number;
  /** Per-host time limit for connecting and all checks. Default 30 s. */
  timeoutMs?: number;
}

export function requiredCommands(h: InventoryHost): string[] {
  const out = new Set<string>();
  if (hostHasRole(h, 'source')) for (const c of REQUIRED_COMMANDS.source[h.os]) out.add(c);
  if (hostHasRole(h, 'tape')) for (const c of REQUIRED_COMMANDS.tape[h.os]) out.add(c);
  // A tape host that pulls images from sources itself (pullFrom) runs OpenSSH's client.
  if (hostHasRole(h, 'tape') && Object.keys(h.pullFrom ?? {}).length > 0) out.add('ssh');
  return [...out];
}

/** Checks every host of the inventory file, in parallel. Never throws for a host's problem: it is in the report. */
export async function checkInventory(inventoryPath: string, opts: InventoryCheckOptions = {}): Promise<InventoryCheckReport> {
  let inv: Inventory;
  try {
    inv = await loadInventory(inventoryPath);
  } catch (err) {
    return { inventoryPath, ok: false, inventoryError: (err as Error).message, hosts: [] };
  }
  const names = opts.hosts?.length ? opts.hosts : Object.keys(inv.hosts);
  const unknown = names.filter((n) => !Object.hasOwn(inv.hosts, n));
  if (unknown.length) {
    return {
      inventoryPath,
      ok: false,
      inventoryError: `not in the inventory: ${unknown.join(', ')} (hosts: ${Object.keys(inv.hosts).join(', ')})`,
      hosts: [],
    };
  }
  const pool = new SshPool({ readyTimeoutMs: Math.min(opts.timeoutMs ?? 30_000, 20_000) });
  try {
    const hosts = await Promise.all(names.map((n) => checkHost(pool, n, inv.hosts[n]!, opts)));
    return { inventoryPath, ok: hosts.every((h) => h.ok), hosts };
  } finally {
    await pool.closeAll();
  }
}

async function endpoint(name: string, h: InventoryHost): Promise<HostEndpoint> {
  const ep: HostEndpoint = { name, address: h.address, port: h.port, user: h.user, hostKey: h.hostKey, maxSessions: h.maxSessions };
  if ('agent' in h.key) ep.agent = h.key.agent;
  else {
    try {
      ep.privateKey = await readFile(h.key.path);
    } catch (err) {
      throw new Error(
        `cannot read the private key ${h.key.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); ` +
          'run the check on the worker machine, or fix key.path in the inventory',
      );
    }
    if (h.key.passphraseEnv) {
      const p = process.env[h.key.passphraseEnv];
      if (p === undefined) throw new Error(`the key's passphrase variable ${h.key.passphraseEnv} is not set here; set it as on the worker`);
      ep.passphrase = p;
    }
  }
  return ep;
}

async function checkHost(pool: SshPool, name: string, h: InventoryHost, opts: InventoryCheckOptions): Promise<HostCheck> {
  const roles = [...(typeof h.role === 'string' ? [h.role] : h.role)];
  const report: HostCheck = {
    host: name,
    address: h.address,
    port: h.port,
    os: h.os,
    roles,
    ok: false,
    problems: [],
    connected: false,
    hostKey: 'not checked',
    commands: {},
    workFolder: { path: h.workFolder, exists: null },
    ...(h.devices ? { devices: Object.keys(h.devices) } : {}),
  };
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s; is the host up and ${h.address}:${h.port} reachable from here?`)), timeoutMs);
  });
  try {
    await Promise.race([runChecks(pool, name, h, report, opts), timeout]);
  } catch (err) {
    report.problems.push(problemText(err, name));
  } finally {
    clearTimeout(timer);
  }
  report.ok = report.problems.length === 0;
  return report;
}

async function runChecks(pool: SshPool, name: string, h: InventoryHost, report: HostCheck, opts: InventoryCheckOptions): Promise<void> {
  const ep = await endpoint(name, h);
  const ssh: SshHost = pool.host(ep);
  try {
    await ssh.connect();
  } catch (err) {
    if (err instanceof HostKeyMismatchError) report.hostKey = 'mismatch';
    else if (err instanceof UnknownHostKeyError) report.hostKey = 'not pinned';
    throw err;
  }
  report.connected = true;
  report.hostKey = 'ok';

  for (const c of requiredCommands(h)) {
    const r = await ssh.exec(killOnHangup(commandPath(c)), { timeoutMs: 10_000, lifeline: true });
    // The last line: a login banner may print lines before command's own.
    const where = r.code === 0 ? r.stdout.trim().split('\n').at(-1) ?? '' : '';
    report.commands[c] = where || null;
    if (!where) report.problems.push(`command ${c} is missing on ${name} (${h.os}, ${report.roles.join('+')}): install it or add its folder to the login PATH`);
  }

  const exists = await ssh.exec(killOnHangup(folderExists(h.workFolder)), { timeoutMs: 10_000, lifeline: true });
  report.workFolder.exists = exists.code === 0;
  if (!report.workFolder.exists) {
    report.problems.push(`work folder ${h.workFolder} does not exist on ${name}: create it (mkdir -p ${h.workFolder}) on a file system with room for the images`);
    return;
  }
  const df = await ssh.exec(killOnHangup(freeSpace(h.workFolder)), { timeoutMs: 10_000, lifeline: true });
  if (df.code !== 0) {
    report.problems.push(`df -k ${h.workFolder} failed on ${name} (exit ${df.code}): ${df.stderr.trim().slice(0, 200)}`);
    return;
  }
  const d = parseDf(df.stdout);
  report.workFolder.freeBytes = d.freeKiB * 1024;
  report.workFolder.totalBytes = d.totalKiB * 1024;
  const min = opts.minFreeBytes ?? 1024 ** 3;
  if (report.workFolder.freeBytes < min) {
    report.problems.push(
      `work folder ${h.workFolder} on ${name} has ${formatBytes(report.workFolder.freeBytes)} free, less than ${formatBytes(min)}: ` +
        'free space there or point workFolder at a larger file system (an mksysb image is about the size of the used rootvg)',
    );
  }
}

function problemText(err: unknown, name: string): string {
  if (err instanceof HostKeyMismatchError) {
    return `${err.message}. If ${name} was reinstalled, confirm the new key with its administrator, then update hostKey in the inventory`;
  }
  if (err instanceof UnknownHostKeyError) return `${err.message}`;
  if (err instanceof AuthenticationError) return `${err.message}. Check user and key in the inventory and the host's authorized_keys`;
  if (err instanceof SshError) return err.message;
  return (err as Error).message ?? String(err);
}
