/**
 * The lab: a simulated AIX estate on this machine. Each host is a real OpenSSH sshd on 127.0.0.1, started in its own
 * mount and pid namespace and chrooted into its own file tree, with AIX command doubles and a tape emulator.
 * See lab/README.md. The parts: types.ts (the shapes), shared-bin.ts (the doubles and PATH folders every host
 * mounts), host-tree.ts (each host's tree and the inventory), sshd.ts (starting and stopping the hosts), trust.ts
 * (direct pulls between hosts) and lab.ts (the Lab handle).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { hostSpecs, inventory, prepareHost } from './host-tree';
import { makeLab } from './lab';
import { writeShared, shellPath } from './shared-bin';
import { freePorts, pidAlive, startSshd, waitReady } from './sshd';
import type { Lab, LabFile, LabOptions } from './types';
export type { Autoloader, CartridgeInfo } from './cartridges';

export {
  AIX_SHELLS,
  DEFAULT_CAPACITY,
  DEFAULT_LOAD_SECONDS,
  WORK_FOLDER,
  type AutoloaderOptions,
  type LoadOptions,
  type AixShell,
  type CommandLogEntry,
  type HostConfig,
  type Lab,
  type LabHost,
  type LabOptions,
  type LabTrust,
} from './types';

const execFileP = promisify(execFile);

/** The lab's folder, emptied: a fresh temporary one, or `opts.dir` unless a lab is still up there. */
function labDir(opts: LabOptions): string {
  if (!opts.dir) return fs.mkdtempSync(path.join(os.tmpdir(), 'lab-'));
  const dir = path.resolve(opts.dir);
  const old = path.join(dir, 'lab.json');
  if (fs.existsSync(old)) {
    const prev = JSON.parse(fs.readFileSync(old, 'utf8')) as LabFile;
    if (Object.values(prev.pids).some((p) => pidAlive(p, dir))) throw new Error(`lab: a lab is already up in ${dir}; run down first`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const specs = hostSpecs(opts);
  const dir = labDir(opts);
  fs.mkdirSync(path.join(dir, 'keys'));
  const keyPath = path.join(dir, 'keys', 'id_ed25519');
  const [ports] = await Promise.all([
    freePorts(specs.length),
    execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'lab', '-f', keyPath]),
  ]);
  writeShared(path.join(dir, 'shared'), shellPath(opts.shell ?? 'lksh'));
  const pub = fs.readFileSync(`${keyPath}.pub`, 'utf8');
  const hosts = await Promise.all(specs.map((s, i) => prepareHost(dir, s, ports[i]!, pub, opts)));
  fs.writeFileSync(path.join(dir, 'known_hosts'), hosts.map((h) => h.knownHostsLine).join('\n') + '\n');
  const inventoryPath = path.join(dir, 'inventory.json');
  fs.writeFileSync(inventoryPath, JSON.stringify(inventory(hosts), null, 2) + '\n');
  const pids: Record<string, number> = {};
  for (const h of hosts) pids[h.name] = startSshd(dir, h);
  const file: LabFile = { dir, removeOnDown: !opts.dir, hosts, pids, inventoryPath };
  fs.writeFileSync(path.join(dir, 'lab.json'), JSON.stringify(file, null, 1));
  const lab = makeLab(file);
  if (!opts.detach) {
    // A test process that dies without down() must not leave hosts behind.
    process.once('exit', () => {
      for (const p of Object.values(pids)) if (pidAlive(p, dir)) process.kill(p, 'SIGKILL');
    });
  }
  try {
    await Promise.all(hosts.map((h) => waitReady(h, pids[h.name]!, dir)));
  } catch (e) {
    await lab.down();
    throw e;
  }
  return lab;
}

export async function attachLab(dir: string): Promise<Lab> {
  const file = JSON.parse(fs.readFileSync(path.join(path.resolve(dir), 'lab.json'), 'utf8')) as LabFile;
  return makeLab(file);
}
