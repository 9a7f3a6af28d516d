/**
 * Trust between a tape host and a source of the lab, as at a site whose hosts log in to each other with their own
 * OpenSSH (direct pulls): the key pair, the pinned host key and the inventory's `pullFrom` entry, and their removal.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Lab, LabTrust } from './types';

type InventoryHosts = Record<string, Record<string, unknown>>;
/** What trust needs of the lab: its hosts by name and its inventory file. */
type TrustScope = Pick<Lab, 'host' | 'inventoryPath'>;

/** Appends `line` to FILE (created with mode 600) unless it holds it already. */
function appendLineOnce(file: string, line: string): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (text.split('\n').some((l) => l.trim() === line)) return;
  fs.writeFileSync(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`, { mode: 0o600 });
}

/** Changes the inventory file in place (written whole, then renamed: a worker reading it sees one or the other). */
function editInventory(inventoryPath: string, change: (hosts: InventoryHosts) => void): void {
  const inv = JSON.parse(fs.readFileSync(inventoryPath, 'utf8')) as { hosts: InventoryHosts };
  change(inv.hosts);
  const tmp = `${inventoryPath}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(inv, null, 2) + '\n');
  fs.renameSync(tmp, inventoryPath);
}

function trustPair(lab: TrustScope, tapeHost: string, source: string) {
  const tape = lab.host(tapeHost);
  const src = lab.host(source);
  if (tape.role !== 'tape') throw new Error(`lab: ${tapeHost} is not a tape host`);
  if (src.role !== 'source') throw new Error(`lab: ${source} is not a source host`);
  return { tape, src, keyName: `id_pull_${source}` };
}

/** See `Lab.trust`. */
export function trust(lab: TrustScope, tapeHost: string, source: string, opts: { inventory?: boolean } = {}): LabTrust {
  const { tape, src, keyName } = trustPair(lab, tapeHost, source);
  const sshDir = path.join(tape.root, 'root', '.ssh');
  fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
  const key = path.join(sshDir, keyName);
  if (!fs.existsSync(key)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `pull-${tapeHost}-${source}`, '-f', key]);
  const pub = fs.readFileSync(`${key}.pub`, 'utf8').trim();
  appendLineOnce(path.join(src.root, 'etc', 'ssh', 'authorized_keys'), pub);
  appendLineOnce(path.join(sshDir, 'known_hosts'), src.knownHostsLine);
  const identityFile = `/root/.ssh/${keyName}`;
  if (opts.inventory !== false) {
    editInventory(lab.inventoryPath, (hosts) => {
      hosts[tapeHost]!.pullFrom = { ...(hosts[tapeHost]!.pullFrom as object | undefined), [source]: { identityFile } };
    });
  }
  const knownHostsFile = '/root/.ssh/known_hosts';
  return {
    identityFile,
    knownHostsFile,
    options: [
      '-F', '/dev/null', '-i', identityFile, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${knownHostsFile}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
    ],
    port: src.port,
    login: `${src.user}@${src.address}`,
  };
}

/** See `Lab.untrust`. */
export function untrust(lab: TrustScope, tapeHost: string, source: string): void {
  const { tape, src, keyName } = trustPair(lab, tapeHost, source);
  editInventory(lab.inventoryPath, (hosts) => {
    const pulls = hosts[tapeHost]!.pullFrom as Record<string, unknown> | undefined;
    if (!pulls) return;
    delete pulls[source];
    if (Object.keys(pulls).length === 0) delete hosts[tapeHost]!.pullFrom;
  });
  const pubFile = path.join(tape.root, 'root', '.ssh', `${keyName}.pub`);
  if (!fs.existsSync(pubFile)) return;
  const pub = fs.readFileSync(pubFile, 'utf8').trim();
  const auth = path.join(src.root, 'etc', 'ssh', 'authorized_keys');
  const kept = fs.readFileSync(auth, 'utf8').split('\n').filter((l) => l.trim() !== '' && l.trim() !== pub);
  fs.writeFileSync(auth, kept.map((l) => `${l}\n`).join(''), { mode: 0o600 });
}
