/**
 * A lab host's file tree (`hosts/NAME/root`, its chroot): the folders, /etc with root's login shell, the host key,
 * sshd's config, the tape drives and the doubles' settings; and the lab's inventory of those hosts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { shellPath } from './shared-bin';
import { sshdConfig, SYSTEM_DIRS } from './sshd';
import { devicePaths, newDriveState, writeState } from './drive-state';
import { DEFAULT_CAPACITY, WORK_FOLDER, type LabHost, type LabOptions } from './types';
import type { HostOs } from '../src/schema/tape-rules';

const execFileP = promisify(execFile);

const DEFAULT_MKSYSB_BYTES = 4 * 1024 * 1024;
const DEFAULT_RATE = 64 * 1024 * 1024;
const DEFAULT_BOOT_BYTES = 1024 * 1024 + 301;

export interface HostSpec {
  name: string;
  os: HostOs;
  role: 'source' | 'tape';
  drives: number;
  capacityBytes: number;
}

type Devices = NonNullable<LabHost['devices']>;

/** The hosts `opts` asks for, sources first (default: aix01 and an AIX tapesrv with one drive). */
export function hostSpecs(opts: LabOptions): HostSpec[] {
  const src = opts.sources ?? ['aix01'];
  const names = typeof src === 'number' ? Array.from({ length: src }, (_, i) => `aix${String(i + 1).padStart(2, '0')}`) : src;
  const tapes = opts.tapeHosts ?? [{ name: 'tapesrv', os: 'aix' as const, drives: 1, capacityBytes: DEFAULT_CAPACITY }];
  const specs: HostSpec[] = [
    ...names.map((name) => ({ name, os: 'aix' as const, role: 'source' as const, drives: 0, capacityBytes: 0 })),
    ...tapes.map((t) => ({ name: t.name, os: t.os, role: 'tape' as const, drives: t.drives ?? 1, capacityBytes: t.capacityBytes ?? DEFAULT_CAPACITY })),
  ];
  const seen = new Set<string>();
  for (const s of specs) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s.name)) throw new Error(`lab: bad host name "${s.name}"`);
    if (seen.has(s.name)) throw new Error(`lab: host name "${s.name}" given twice`);
    seen.add(s.name);
  }
  return specs;
}

/** The empty folders of a tree, with /bin, /lib and the like as the machine has them (symlinks stay symlinks). */
function makeFolders(root: string): void {
  for (const d of ['etc/ssh', 'home/mksysb', 'root', 'var/lab/tape', 'var/lab/armed', 'var/log', 'run/sshd', 'usr', 'dev', 'proc', 'lab']) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  for (const d of SYSTEM_DIRS) {
    const st = fs.lstatSync(`/${d}`, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(`/${d}`), path.join(root, d));
    else fs.mkdirSync(path.join(root, d));
  }
}

/** The host's /etc: users (root logging in with `loginShell`), groups, name and name service, copies of a few files. */
function writeEtc(etc: string, name: string, loginShell: string): void {
  fs.writeFileSync(path.join(etc, 'passwd'), `root:x:0:0:root:/root:${loginShell}\n` + 'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  fs.writeFileSync(path.join(etc, 'group'), 'root:x:0:\nsystem:x:0:root\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(etc, 'hostname'), name + '\n');
  fs.writeFileSync(path.join(etc, 'hosts'), `127.0.0.1 localhost loopback ${name}\n`);
  fs.writeFileSync(path.join(etc, 'nsswitch.conf'), 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n');
  for (const f of ['ld.so.cache', 'localtime']) {
    if (fs.existsSync(`/etc/${f}`)) fs.copyFileSync(`/etc/${f}`, path.join(etc, f));
  }
  if (fs.existsSync('/etc/ssl/openssl.cnf')) {
    fs.mkdirSync(path.join(etc, 'ssl'));
    fs.copyFileSync('/etc/ssl/openssl.cnf', path.join(etc, 'ssl', 'openssl.cnf'));
  }
  // /etc/alternatives (Debian's symlinks for awk, etc.) is bind-mounted read-only when the host starts.
  if (fs.existsSync('/etc/alternatives')) fs.mkdirSync(path.join(etc, 'alternatives'));
}

/** The host's key pair, the lab's key as the only authorized one, and sshd's config; returns the public host key. */
async function writeSsh(etc: string, spec: HostSpec, port: number, pubKey: string): Promise<string> {
  const keyFile = path.join(etc, 'ssh', 'ssh_host_ed25519_key');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', spec.name, '-f', keyFile]);
  const hostKey = fs.readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  fs.writeFileSync(path.join(etc, 'ssh', 'authorized_keys'), pubKey, { mode: 0o600 });
  const pathVar = spec.os === 'aix' ? '/lab/bin-aix' : '/lab/bin-linux:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';
  fs.writeFileSync(path.join(etc, 'ssh', 'sshd_config'), sshdConfig(port, pathVar));
  return hostKey;
}

/** The spec's drives, each a blank AWSTAPE file with a loaded cartridge: rmtN on AIX, nstN on Linux. */
function makeDrives(root: string, spec: HostSpec): Devices {
  const devices: Devices = {};
  const tapeDir = path.join(root, 'var', 'lab', 'tape');
  for (let i = 0; i < spec.drives; i++) {
    const dev = spec.os === 'aix' ? `rmt${i}` : `nst${i}`;
    const p = devicePaths(tapeDir, dev);
    fs.writeFileSync(p.aws, '');
    writeState(p, newDriveState(dev, spec.os, spec.capacityBytes));
    devices[dev] = { aws: p.aws, capacityBytes: spec.capacityBytes };
  }
  return devices;
}

/** Each drive's capacity, as the doubles' settings and the inventory give it. */
function capacities(devices: Devices): Record<string, { capacityBytes: number }> {
  return Object.fromEntries(Object.entries(devices).map(([k, v]) => [k, { capacityBytes: v.capacityBytes }]));
}

/** /var/lab: the doubles' settings, no faults, an empty command log (whose path it returns). */
function writeDoublesState(root: string, spec: HostSpec, devices: Devices, opts: LabOptions): string {
  const config = {
    name: spec.name,
    os: spec.os,
    role: spec.role,
    seed: spec.name,
    mksysbBytes: opts.mksysbBytes ?? DEFAULT_MKSYSB_BYTES,
    mksysbBytesPerSecond: opts.mksysbBytesPerSecond ?? DEFAULT_RATE,
    bootImageBytes: opts.bootImageBytes ?? DEFAULT_BOOT_BYTES,
    devices: capacities(devices),
  };
  fs.writeFileSync(path.join(root, 'var', 'lab', 'config.json'), JSON.stringify(config, null, 1));
  fs.writeFileSync(path.join(root, 'var', 'lab', 'faults.json'), '[]');
  const commandLog = path.join(root, 'var', 'lab', 'commands.log');
  fs.writeFileSync(commandLog, '');
  return commandLog;
}

/** Builds the host's tree under `dir`/hosts/NAME; `pubKey` is the lab's login key, `port` its sshd's. */
export async function prepareHost(dir: string, spec: HostSpec, port: number, pubKey: string, opts: LabOptions): Promise<LabHost> {
  const root = path.join(dir, 'hosts', spec.name, 'root');
  makeFolders(root);
  const etc = path.join(root, 'etc');
  // sshd runs a command line under root's login shell, as AIX does (ksh88 there; AIX-TAPE.md, "AIX userland").
  const loginShell = spec.os === 'aix' ? shellPath(opts.shell ?? 'lksh') : '/bin/sh';
  writeEtc(etc, spec.name, loginShell);
  const hostKey = await writeSsh(etc, spec, port, pubKey);
  const devices = makeDrives(root, spec);
  const commandLog = writeDoublesState(root, spec, devices, opts);
  const host: LabHost = {
    name: spec.name,
    address: '127.0.0.1',
    port,
    user: 'root',
    privateKeyPath: path.join(dir, 'keys', 'id_ed25519'),
    knownHostsLine: `[127.0.0.1]:${port} ${hostKey}`,
    hostKey,
    os: spec.os,
    loginShell,
    role: spec.role,
    workFolder: WORK_FOLDER,
    root,
    commandLog,
  };
  if (spec.role === 'tape') host.devices = devices;
  return host;
}

/** The inventory the worker reads for these hosts. */
export function inventory(hosts: LabHost[]): unknown {
  return {
    hosts: Object.fromEntries(
      hosts.map((h) => [
        h.name,
        {
          address: h.address,
          port: h.port,
          user: h.user,
          os: h.os,
          role: h.role,
          workFolder: h.workFolder,
          key: { path: h.privateKeyPath },
          hostKey: h.hostKey,
          ...(h.devices ? { devices: capacities(h.devices) } : {}),
        },
      ]),
    ),
  };
}
