/**
 * `mksysb-tape inventory trust HOST`: records the host key a host presents now as its pinned `hostKey` in the
 * inventory, on an operator's explicit request. The connection stops right after the key exchange: no credential is
 * offered and no command runs. The operator compares the fingerprint shown with the one the host's console prints
 * (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) before saying yes.
 */
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { Client } from 'ssh2';
import { fingerprint, parsePinnedKey } from '../ssh/hostkey';
import { parseInventory } from '../schema';

export interface SeenHostKey {
  host: string;
  address: string;
  port: number;
  /** `TYPE BASE64`, as the inventory's `hostKey` holds it. */
  hostKey: string;
  /** `SHA256:...`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  /** The fingerprint of the key pinned now, or null when none is pinned (or it is unreadable). */
  pinnedFingerprint: string | null;
  /** True when the host presents exactly the pinned key. */
  matchesPinned: boolean;
}

export class InventoryTrustError extends Error {
  override readonly name = 'InventoryTrustError';
}

interface RawInventory {
  hosts?: Record<string, { address?: unknown; port?: unknown; hostKey?: unknown } | undefined>;
}

async function readRaw(inventoryPath: string): Promise<{ text: string; raw: RawInventory }> {
  let text: string;
  try {
    text = await readFile(inventoryPath, 'utf8');
  } catch (err) {
    throw new InventoryTrustError(`cannot read inventory ${inventoryPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return { text, raw: JSON.parse(text) as RawInventory };
  } catch (err) {
    throw new InventoryTrustError(`inventory ${inventoryPath} is not valid JSON: ${(err as Error).message}`);
  }
}

function entry(raw: RawInventory, host: string, inventoryPath: string): { address: string; port: number; hostKey?: unknown } {
  const hosts = raw.hosts && typeof raw.hosts === 'object' ? raw.hosts : {};
  const h = Object.hasOwn(hosts, host) ? hosts[host] : undefined;
  if (!h || typeof h !== 'object') {
    throw new InventoryTrustError(`host "${host}" is not in the inventory ${inventoryPath} (hosts: ${Object.keys(hosts).join(', ') || 'none'}); add it first`);
  }
  if (typeof h.address !== 'string' || h.address === '') throw new InventoryTrustError(`host "${host}" has no address in ${inventoryPath}`);
  const port = h.port === undefined ? 22 : h.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InventoryTrustError(`host "${host}" has no valid port in ${inventoryPath}`);
  }
  return { address: h.address, port, hostKey: h.hostKey };
}

/** Connects to HOST (address and port from the inventory) and returns the key it presents, without logging in. */
export async function fetchHostKey(inventoryPath: string, host: string, opts: { timeoutMs?: number } = {}): Promise<SeenHostKey> {
  const { raw } = await readRaw(inventoryPath);
  const h = entry(raw, host, inventoryPath);
  const blob = await new Promise<Buffer>((resolve, reject) => {
    const client = new Client();
    let seen: Buffer | undefined;
    const done = (err?: Error) => {
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end();
      if (seen) resolve(seen);
      else reject(err ?? new InventoryTrustError(`${host} (${h.address}:${h.port}) closed the connection before presenting a host key`));
    };
    client.on('error', (err) => done(new InventoryTrustError(`cannot connect to ${host} (${h.address}:${h.port}): ${err.message}`)));
    client.on('close', () => done());
    client.on('ready', () => done());
    client.connect({
      host: h.address,
      port: h.port,
      username: 'mksysb-tape-trust',
      readyTimeout: opts.timeoutMs ?? 20000,
      // Refusing every key ends the connection after the key exchange: no credential is sent.
      hostVerifier: (key: Buffer): boolean => {
        seen = Buffer.from(key);
        return false;
      },
    });
  });
  const type = blob.subarray(4, 4 + blob.readUInt32BE(0)).toString('latin1');
  const hostKey = `${type} ${blob.toString('base64')}`;
  let pinnedFingerprint: string | null = null;
  let matchesPinned = false;
  if (typeof h.hostKey === 'string') {
    try {
      const pinned = parsePinnedKey(h.hostKey);
      pinnedFingerprint = fingerprint(pinned.blob);
      matchesPinned = pinned.blob.equals(blob);
    } catch {
      /* unreadable pinned key: shown as none */
    }
  }
  return { host, address: h.address, port: h.port, hostKey, fingerprint: fingerprint(blob), pinnedFingerprint, matchesPinned };
}

/**
 * Writes `hostKey` (`TYPE BASE64`) as HOST's pinned key in the inventory file (atomically: a temporary file beside it,
 * then rename), keeping every other field. The result is validated like the worker does; an inventory that was
 * invalid for other reasons is still written, and the problems are returned.
 */
export async function recordHostKey(inventoryPath: string, host: string, hostKey: string): Promise<{ inventoryProblems: string | null }> {
  parsePinnedKey(hostKey);
  const { text, raw } = await readRaw(inventoryPath);
  entry(raw, host, inventoryPath);
  raw.hosts![host]!.hostKey = hostKey;
  const indent = /^\{\s*\n(\s+)"/.exec(text)?.[1]?.length ?? 2;
  const tmp = `${inventoryPath}.trust-${process.pid}`;
  const { mode } = await stat(inventoryPath);
  await writeFile(tmp, JSON.stringify(raw, null, indent) + '\n', { mode: mode & 0o777 });
  await rename(tmp, inventoryPath);
  try {
    parseInventory(raw, inventoryPath);
    return { inventoryProblems: null };
  } catch (err) {
    return { inventoryProblems: (err as Error).message };
  }
}

export function formatSeenHostKey(k: SeenHostKey): string {
  const lines = [
    `${k.host} (${k.address}:${k.port}) presents ${k.hostKey.split(' ')[0]} ${k.fingerprint}`,
    k.pinnedFingerprint === null
      ? 'the inventory pins no key for it'
      : k.matchesPinned
        ? 'this is the key the inventory pins already'
        : `the inventory pins a different key: ${k.pinnedFingerprint}`,
  ];
  return lines.join('\n');
}
