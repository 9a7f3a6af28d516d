/** The Lab handle over a running lab's record (`lab.json`): hosts by name, faults, logs, ssh, trust, shutdown. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { setBanner } from './banner';
import { FaultStore, parseFaultSpec } from './faults';
import { pidAlive, stopSshd } from './sshd';
import { devicePaths, lock, readState, writeState, type DriveState } from './drive-state';
import { allCartridges, configureAutoloader, describeCartridges, loadCartridge, newCartridge, setCapacity, unloadCartridge } from './cartridges';
import { trust, untrust } from './trust';
import { DEFAULT_LOAD_SECONDS, type AutoloaderOptions, type CommandLogEntry, type HostConfig, type Lab, type LabFile, type LabHost, type LoadOptions } from './types';

type ExecResult = Awaited<ReturnType<Lab['exec']>>;

function hostLookup(file: LabFile): (name: string) => LabHost {
  return (name) => {
    const h = file.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`lab: no host named "${name}" (hosts: ${file.hosts.map((x) => x.name).join(', ')})`);
    return h;
  };
}

/** /var/lab in a host's tree: the doubles' settings, faults, command log and tape drives. */
const labVar = (h: LabHost): string => path.join(h.root, 'var', 'lab');
const tapeDir = (h: LabHost): string => path.join(labVar(h), 'tape');

function sshArgsFor(dir: string, h: LabHost): string[] {
  return [
    '-F', '/dev/null',
    '-i', h.privateKeyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${path.join(dir, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
    '-p', String(h.port),
    `${h.user}@${h.address}`,
  ];
}

/** Runs `command` over ssh(1); a command killed by a signal exits 128 + its number, as a shell reports it. */
function sshExec(args: string[], command: string, opts: { stdin?: Buffer | string; timeoutMs?: number }): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', [...args, command], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const errb: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => errb.push(d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 255), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(errb).toString() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}

/**
 * Clears a host's faults. The only fault that takes a cartridge away, no-tape, is a fault entry, so clearing it is
 * the reload; a cartridge an operator's `tctl offline` / `mt offline` took out stays out until `load`.
 */
function clearHostFaults(h: LabHost): void {
  new FaultStore(labVar(h)).clear();
}

/** Changes a drive's state (cartridges, autoloader) with the drive held, as a command holds it. */
function updateDrive<T>(h: LabHost, device: string, fn: (st: DriveState, dir: string) => T): T {
  if (!h.devices?.[device]) throw new Error(`lab: ${h.name} has no tape drive ${device} (drives: ${Object.keys(h.devices ?? {}).join(', ') || 'none'})`);
  const p = devicePaths(tapeDir(h), device);
  const unlock = lock(p.lock);
  try {
    const st = readState(p);
    const r = fn(st, tapeDir(h));
    writeState(p, st);
    return r;
  } finally {
    unlock();
  }
}

function loadInto(h: LabHost, device: string, opts: LoadOptions): { name: string; aws: string } {
  return updateDrive(h, device, (st, dir) => {
    const name = opts.name && allCartridges(st).some((c) => c.name === opts.name)
      ? opts.name
      : newCartridge(dir, st, opts.capacityBytes ?? h.devices![device]!.capacityBytes, opts.name);
    if (opts.capacityBytes !== undefined) setCapacity(st, name, opts.capacityBytes);
    loadCartridge(st, name);
    return { name, aws: path.join(dir, st.file!) };
  });
}

function autoloaderFor(h: LabHost, device: string, opts: AutoloaderOptions): { magazine: string[] } {
  return updateDrive(h, device, (st, dir) => ({
    magazine: configureAutoloader(dir, st, {
      cartridges: opts.cartridges,
      capacityBytes: opts.capacityBytes ?? h.devices![device]!.capacityBytes,
      loadSeconds: opts.loadSeconds ?? DEFAULT_LOAD_SECONDS,
    }, Date.now()),
  }));
}

async function readCommandLog(h: LabHost): Promise<CommandLogEntry[]> {
  const text = await fs.promises.readFile(h.commandLog, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as CommandLogEntry);
}

/** Merges `cfg` into the host's doubles' settings; the banner is a file of its own (lab/banner.ts). */
function writeHostConfig(h: LabHost, { banner, ...cfg }: HostConfig): void {
  if (banner !== undefined) setBanner(h.root, banner);
  const f = path.join(labVar(h), 'config.json');
  const cur = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(f, JSON.stringify({ ...cur, ...cfg }, null, 1));
}

/** Stops the hosts and, for a lab in a folder of its own making, removes the folder. */
async function downLab(file: LabFile): Promise<void> {
  const { dir } = file;
  await stopSshd(Object.values(file.pids), dir);
  // Mounts live in the hosts' own namespaces; never remove the tree while anything is mounted under it.
  const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4]?.startsWith(dir + '/'));
  if (file.removeOnDown && !mounted) fs.rmSync(dir, { recursive: true, force: true });
}

export function makeLab(file: LabFile): Lab {
  const { dir } = file;
  const host = hostLookup(file);
  const scope = { host, inventoryPath: file.inventoryPath };
  return {
    dir,
    hosts: file.hosts,
    inventoryPath: file.inventoryPath,
    host,
    sshArgs: (name) => sshArgsFor(dir, host(name)),
    async fault(name, spec) {
      new FaultStore(labVar(host(name))).add(parseFaultSpec(spec));
    },
    async clearFaults(name) {
      for (const h of name ? [host(name)] : file.hosts) clearHostFaults(h);
    },
    faults: (name) => new FaultStore(labVar(host(name))).list(),
    async commandLog(name) {
      return readCommandLog(host(name));
    },
    async setHostConfig(name, cfg) {
      writeHostConfig(host(name), cfg);
    },
    tapeState: (name, device) => readState(devicePaths(tapeDir(host(name)), device)),
    load: (name, device, opts = {}) => loadInto(host(name), device, opts),
    cartridges: (name, device) => describeCartridges(tapeDir(host(name)), readState(devicePaths(tapeDir(host(name)), device))),
    unload: (name, device) => updateDrive(host(name), device, (st) => unloadCartridge(st, Date.now())),
    setAutoloader: (name, device, opts) => autoloaderFor(host(name), device, opts),
    autoloader: (name, device) => readState(devicePaths(tapeDir(host(name)), device)).autoloader,
    async exec(name, command, opts = {}) {
      return sshExec(sshArgsFor(dir, host(name)), command, opts);
    },
    alive: () => file.hosts.map((h) => pidAlive(file.pids[h.name]!, dir)),
    trust: (tapeHost, source, opts) => trust(scope, tapeHost, source, opts),
    untrust: (tapeHost, source) => untrust(scope, tapeHost, source),
    down: () => downLab(file),
  };
}
