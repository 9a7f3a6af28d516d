/**
 * The lab: a simulated AIX estate on this machine. Each host is a real OpenSSH sshd on 127.0.0.1, started in its own
 * mount and pid namespace and chrooted into its own file tree, with AIX command doubles and a tape emulator.
 * See lab/README.md.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { setBanner } from './banner';
import { FaultStore, parseFaultSpec, type Fault } from './faults';
import { devicePaths, newDriveState, readState, writeState, type DriveState } from './tape';

const execFileP = promisify(execFile);

export interface LabOptions {
  dir?: string;
  sources?: number | string[];
  tapeHosts?: Array<{ name: string; os: 'aix' | 'linux'; drives?: number; capacityBytes?: number }>;
  mksysbBytes?: number;
  mksysbBytesPerSecond?: number;
  bootImageBytes?: number;
  /** Keep the hosts running after this process exits (the CLI's `up`). Otherwise they are killed when it exits. */
  detach?: boolean;
  /** The AIX hosts' shell: root's login shell, `sh` on the PATH and `/bin/sh` (default `lksh`; see AIX_SHELLS). */
  shell?: AixShell;
}

/**
 * Shells an AIX host of the lab can run command lines under. AIX runs an SSH command line under root's login shell,
 * ksh88, and its /usr/bin/sh is a Korn shell too (AIX-TAPE.md, "AIX userland"); `lksh` (mksh's legacy mode, a pdksh
 * descendant) is the nearest Debian has, so it is the default. `ksh93` and `dash` catch what other dialects refuse.
 */
export const AIX_SHELLS = ['lksh', 'dash', 'ksh93'] as const;
export type AixShell = (typeof AIX_SHELLS)[number];

export interface LabHost {
  name: string;
  address: '127.0.0.1';
  port: number;
  user: string;
  privateKeyPath: string;
  knownHostsLine: string;
  hostKey: string;
  os: 'aix' | 'linux';
  /** root's login shell in the host's tree (the shell sshd runs command lines under). */
  loginShell: string;
  role: 'source' | 'tape';
  workFolder: string;
  root: string;
  commandLog: string;
  devices?: Record<string, { aws: string; capacityBytes: number }>;
}

export interface CommandLogEntry {
  time: string;
  command: string;
  args: string[];
  exit: number;
  [k: string]: unknown;
}

/** Per-host settings of the doubles (the host reads them from /var/lab/config.json). */
export interface HostConfig {
  seed?: string;
  mksysbBytes?: number;
  mksysbBytesPerSecond?: number;
  bootImageBytes?: number;
  /** Free space every filesystem of the host reports in `df -k`; mksysb fails with ENOSPC beyond it. */
  freeBytes?: number;
  /** Tape writes on this host run no faster than this many bytes per second (default: as fast as the disk). */
  tapeBytesPerSecond?: number;
  /** Every SSH session prints a login banner on stdout and stderr before its command (lab/banner.ts). */
  banner?: boolean;
}

export interface Lab {
  dir: string;
  hosts: LabHost[];
  inventoryPath: string;
  host(name: string): LabHost;
  fault(host: string, spec: string): Promise<void>;
  clearFaults(host?: string): Promise<void>;
  commandLog(host: string): Promise<CommandLogEntry[]>;
  exec(host: string, command: string, opts?: { stdin?: Buffer | string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  down(): Promise<void>;
  /** Extras beyond the contract. */
  faults(host: string): Fault[];
  setHostConfig(host: string, cfg: HostConfig): Promise<void>;
  tapeState(host: string, device: string): DriveState;
  /** ssh(1) arguments for a host: `spawn('ssh', [...lab.sshArgs(h), 'cmd'])`. */
  sshArgs(host: string): string[];
  alive(): boolean[];
  /**
   * Lets `tapeHost` log in to `source` with its own OpenSSH client, as at a site where the two trust each other: a key
   * pair in the tape host's tree (`/root/.ssh/id_pull_SOURCE`) whose public half the source accepts, the source's host
   * key in the tape host's `/root/.ssh/known_hosts`, and (unless `inventory: false`) `pullFrom` for the pair in the
   * lab's inventory, so that the worker moves the images between them directly. Running it again changes nothing.
   */
  trust(tapeHost: string, source: string, opts?: { inventory?: boolean }): LabTrust;
  /** Undoes `trust`: the pair's `pullFrom` entry leaves the inventory and the source no longer accepts the key. */
  untrust(tapeHost: string, source: string): void;
}

/** What `trust` set up, as the tape host sees it. */
export interface LabTrust {
  /** The private key in the tape host's tree that the source accepts. */
  identityFile: string;
  /** The tape host's known_hosts file, holding the source's host key. */
  knownHostsFile: string;
  /** Options for ssh(1) and scp(1) run on the tape host: no config file, that key only, the pinned host key, no prompts. */
  options: string[];
  /** The source's sshd port (`ssh -p`, `scp -P`) and login (`root@127.0.0.1`). */
  port: number;
  login: string;
}

export const WORK_FOLDER = '/home/mksysb';
export const DEFAULT_CAPACITY = 4 * 1024 * 1024 * 1024;
const DEFAULT_MKSYSB_BYTES = 4 * 1024 * 1024;
const DEFAULT_RATE = 64 * 1024 * 1024;
const DEFAULT_BOOT_BYTES = 1024 * 1024 + 301;

/** POSIX tools an AIX host offers (as far as the workflow needs them); GNU-only tools are left out on purpose. */
const AIX_TOOLS = [
  'cat', 'ls', 'rm', 'rmdir', 'mkdir', 'mv', 'cp', 'ln', 'sleep', 'head', 'tail', 'ps', 'nohup', 'openssl',
  'grep', 'egrep', 'fgrep', 'sed', 'awk', 'cut', 'tr', 'sort', 'uniq', 'date', 'touch', 'chmod', 'chown', 'chgrp',
  'pwd', 'id', 'hostname', 'env', 'true', 'false', 'expr', 'basename', 'dirname', 'find', 'tee', 'xargs', 'sync',
  'od', 'cmp', 'diff', 'tar', 'file', 'cksum', 'sum', 'du', 'whoami', 'logname', 'nice', 'which', 'cpio', 'split',
  'paste', 'join', 'comm', 'fold', 'kill', 'echo', 'printf', 'test', '[',
  // OpenSSH's client, /usr/bin/ssh and /usr/bin/scp on AIX (the source end of `scp -O` runs `scp -f` from the PATH).
  'ssh', 'scp',
];
const AIX_DOUBLES = ['dd', 'tctl', 'chdev', 'lsattr', 'lsdev', 'bosboot', 'mkinsttape', 'mksysb', 'lsmksysb', 'restore', 'df', 'wc'];
const LINUX_DOUBLES = ['dd', 'mt'];
const LINUX_WRAPPED = ['cat', 'tail'];

interface LabFile {
  dir: string;
  removeOnDown: boolean;
  hosts: LabHost[];
  pids: Record<string, number>;
  inventoryPath: string;
}

function which(tool: string): string | undefined {
  for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(d, tool);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** The real path of an AIX shell; /usr and /bin are bind-mounted from the machine, so it exists in every host's tree. */
function shellPath(shell: AixShell): string {
  if (!AIX_SHELLS.includes(shell)) throw new Error(`lab: unknown shell "${String(shell)}" (one of ${AIX_SHELLS.join(', ')})`);
  const p = which(shell);
  if (!p) throw new Error(`lab: shell ${shell} is not installed (scripts/system-deps.sh installs mksh and ksh)`);
  return fs.realpathSync(p);
}

function bundleDoubles(outfile: string): void {
  // tsx ships esbuild; the doubles run as one plain JS file so that each command starts fast.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  esbuild.buildSync({
    entryPoints: [path.join(__dirname, 'doubles', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    logLevel: 'error',
  });
}

function writeShared(shared: string, aixShell: string): void {
  fs.mkdirSync(shared, { recursive: true });
  bundleDoubles(path.join(shared, 'doubles.cjs'));
  const node = process.execPath.startsWith('/usr/') ? process.execPath : '/usr/bin/node';
  const double = (name: string) => `#!/bin/sh\nexec ${node} /lab/doubles.cjs ${name} "$@"\n`;
  const wrapped = (name: string, real: string) =>
    `#!/bin/sh\n[ -e /var/lab/armed/${name} ] && exec ${node} /lab/doubles.cjs wrap ${name} ${real} "$@"\nexec ${real} "$@"\n`;
  const put = (file: string, text: string) => fs.writeFileSync(file, text, { mode: 0o755 });
  const aix = path.join(shared, 'bin-aix');
  fs.mkdirSync(aix, { recursive: true });
  fs.symlinkSync(aixShell, path.join(aix, 'sh'));
  for (const t of AIX_TOOLS) {
    const real = which(t);
    if (real) put(path.join(aix, t), wrapped(t, real));
  }
  for (const d of AIX_DOUBLES) put(path.join(aix, d), double(d));
  put(
    path.join(aix, 'uname'),
    '#!/bin/sh\nn=$(cat /etc/hostname)\ncase "$1" in\n -a) echo "AIX $n 2 7 00C0FFEE4C00";;\n -n) echo "$n";;\n -r) echo 2;;\n -v) echo 7;;\n' +
      ' -p) echo powerpc;;\n -m) echo 00C0FFEE4C00;;\n -W) echo 0;;\n *) echo AIX;;\nesac\n',
  );
  const lin = path.join(shared, 'bin-linux');
  fs.mkdirSync(lin, { recursive: true });
  for (const d of LINUX_DOUBLES) put(path.join(lin, d), double(d));
  for (const t of LINUX_WRAPPED) put(path.join(lin, t), wrapped(t, which(t)!));
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((res, rej) => {
      const s = net.createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => res(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function sshdConfig(port: number, pathVar: string): string {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    'HostKey /etc/ssh/ssh_host_ed25519_key',
    'PidFile /run/sshd.pid',
    'AuthorizedKeysFile /etc/ssh/authorized_keys',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'UsePAM no',
    'StrictModes no',
    'PermitUserEnvironment no',
    'UseDNS no',
    'PrintMotd no',
    'PrintLastLog no',
    'MaxStartups 200:30:400',
    // OpenSSH's default, as on AIX: the pool must keep within it (it used to be raised here).
    'MaxSessions 10',
    'LogLevel ERROR',
    'Subsystem sftp internal-sftp',
    `SetEnv PATH=${pathVar}`,
    '',
  ].join('\n');
}

function setupScript(root: string, shared: string, binSh?: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const R = q(root);
  const lines = [
    'set -e',
    `mount --bind /usr ${R}/usr`,
    `mount -o remount,bind,ro ${R}/usr`,
  ];
  for (const d of ['bin', 'sbin', 'lib', 'lib64', 'lib32', 'libx32']) {
    const st = fs.lstatSync(`/${d}`, { throwIfNoEntry: false });
    if (st?.isDirectory() && !st.isSymbolicLink()) {
      lines.push(`mount --bind /${d} ${R}/${d}`, `mount -o remount,bind,ro ${R}/${d}`);
    }
  }
  lines.push(
    `mount --rbind /dev ${R}/dev`,
    `if [ -d /etc/alternatives ]; then mount --bind /etc/alternatives ${R}/etc/alternatives; mount -o remount,bind,ro ${R}/etc/alternatives; fi`,
    `mount -t proc proc ${R}/proc`,
    `mount --bind ${q(shared)} ${R}/lab`,
    `mount -o remount,bind,ro ${R}/lab`,
  );
  if (binSh) {
    // On AIX /bin/sh is a Korn shell too (AIX-TAPE.md, "AIX userland"), and detached commands run under `/bin/sh -c`:
    // the host's /bin/sh is the chosen shell. The machine's /bin/sh is a symlink (to dash on Debian), which mount
    // follows, so the bind covers the file it names; that file is only ever reached as /bin/sh here.
    const target = fs.realpathSync('/bin/sh');
    if (target !== binSh) lines.push(`mount --bind ${q(binSh)} ${R}${q(target)}`);
  }
  lines.push(
    `hostname ${q(path.basename(path.dirname(root)))}`,
    `exec chroot ${R} /usr/sbin/sshd -D -f /etc/ssh/sshd_config -E /var/log/sshd.log`,
  );
  return lines.join('\n');
}

interface HostSpec {
  name: string;
  os: 'aix' | 'linux';
  role: 'source' | 'tape';
  drives: number;
  capacityBytes: number;
}

async function prepareHost(dir: string, spec: HostSpec, port: number, pubKey: string, opts: LabOptions): Promise<LabHost> {
  const hdir = path.join(dir, 'hosts', spec.name);
  const root = path.join(hdir, 'root');
  for (const d of ['etc/ssh', 'home/mksysb', 'root', 'var/lab/tape', 'var/lab/armed', 'var/log', 'run/sshd', 'usr', 'dev', 'proc', 'lab']) {
    fs.mkdirSync(path.join(root, d), { recursive: true });
  }
  fs.mkdirSync(path.join(root, 'tmp'), { mode: 0o1777 });
  fs.chmodSync(path.join(root, 'tmp'), 0o1777);
  for (const d of ['bin', 'sbin', 'lib', 'lib64', 'lib32', 'libx32']) {
    const st = fs.lstatSync(`/${d}`, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(`/${d}`), path.join(root, d));
    else fs.mkdirSync(path.join(root, d));
  }
  const etc = path.join(root, 'etc');
  // sshd runs a command line under root's login shell, as AIX does (ksh88 there; AIX-TAPE.md, "AIX userland").
  const loginShell = spec.os === 'aix' ? shellPath(opts.shell ?? 'lksh') : '/bin/sh';
  fs.writeFileSync(path.join(etc, 'passwd'), `root:x:0:0:root:/root:${loginShell}\n` + 'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
  fs.writeFileSync(path.join(etc, 'group'), 'root:x:0:\nsystem:x:0:root\nnogroup:x:65534:\n');
  fs.writeFileSync(path.join(etc, 'hostname'), spec.name + '\n');
  fs.writeFileSync(path.join(etc, 'hosts'), `127.0.0.1 localhost loopback ${spec.name}\n`);
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
  const keyFile = path.join(etc, 'ssh', 'ssh_host_ed25519_key');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', spec.name, '-f', keyFile]);
  const hostKey = fs.readFileSync(`${keyFile}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  fs.writeFileSync(path.join(etc, 'ssh', 'authorized_keys'), pubKey, { mode: 0o600 });
  const pathVar = spec.os === 'aix' ? '/lab/bin-aix' : '/lab/bin-linux:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin';
  fs.writeFileSync(path.join(etc, 'ssh', 'sshd_config'), sshdConfig(port, pathVar));
  const devices: Record<string, { aws: string; capacityBytes: number }> = {};
  const tapeDir = path.join(root, 'var', 'lab', 'tape');
  for (let i = 0; i < spec.drives; i++) {
    const dev = spec.os === 'aix' ? `rmt${i}` : `nst${i}`;
    const p = devicePaths(tapeDir, dev);
    fs.writeFileSync(p.aws, '');
    writeState(p, newDriveState(dev, spec.os, spec.capacityBytes));
    devices[dev] = { aws: p.aws, capacityBytes: spec.capacityBytes };
  }
  const config = {
    name: spec.name,
    os: spec.os,
    role: spec.role,
    seed: spec.name,
    mksysbBytes: opts.mksysbBytes ?? DEFAULT_MKSYSB_BYTES,
    mksysbBytesPerSecond: opts.mksysbBytesPerSecond ?? DEFAULT_RATE,
    bootImageBytes: opts.bootImageBytes ?? DEFAULT_BOOT_BYTES,
    devices: Object.fromEntries(Object.entries(devices).map(([k, v]) => [k, { capacityBytes: v.capacityBytes }])),
  };
  fs.writeFileSync(path.join(root, 'var', 'lab', 'config.json'), JSON.stringify(config, null, 1));
  fs.writeFileSync(path.join(root, 'var', 'lab', 'faults.json'), '[]');
  const commandLog = path.join(root, 'var', 'lab', 'commands.log');
  fs.writeFileSync(commandLog, '');
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

function startSshd(dir: string, host: LabHost): number {
  const hdir = path.join(dir, 'hosts', host.name);
  const script = setupScript(host.root, path.join(dir, 'shared'), host.os === 'aix' ? host.loginShell : undefined);
  fs.writeFileSync(path.join(hdir, 'start.sh'), script + '\n');
  const log = fs.openSync(path.join(hdir, 'sshd.out'), 'w');
  const child = spawn(
    'unshare',
    ['--mount', '--pid', '--uts', '--fork', '--kill-child', '--propagation', 'private', '/bin/sh', path.join(hdir, 'start.sh')],
    { detached: true, stdio: ['ignore', log, log] },
  );
  child.unref();
  fs.closeSync(log);
  return child.pid!;
}

/** Appends `line` to FILE (created with mode 600) unless it holds it already. */
function appendLineOnce(file: string, line: string): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  if (text.split('\n').some((l) => l.trim() === line)) return;
  fs.writeFileSync(file, `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`, { mode: 0o600 });
}

function pidAlive(pid: number, dir: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
}

async function waitReady(host: LabHost, pid: number, dir: string): Promise<void> {
  const deadline = Date.now() + 15000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(host.port, '127.0.0.1');
      let data = '';
      s.setTimeout(1000);
      s.on('data', (d) => {
        data += d.toString();
        if (data.includes('SSH-2.0')) {
          s.destroy();
          resolve(true);
        }
      });
      s.on('error', () => resolve(false));
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.on('close', () => resolve(data.includes('SSH-2.0')));
    });
    if (ok) return;
    if (!pidAlive(pid, dir) || Date.now() > deadline) {
      const out = fs.readFileSync(path.join(dir, 'hosts', host.name, 'sshd.out'), 'utf8');
      let log = '';
      try {
        log = fs.readFileSync(path.join(host.root, 'var', 'log', 'sshd.log'), 'utf8');
      } catch {
        /* none */
      }
      throw new Error(`lab host ${host.name} did not start: ${out}${log}`);
    }
    await new Promise((r) => setTimeout(r, 15));
  }
}

function hostSpecs(opts: LabOptions): HostSpec[] {
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

function inventory(hosts: LabHost[]): unknown {
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
          ...(h.devices ? { devices: Object.fromEntries(Object.entries(h.devices).map(([k, v]) => [k, { capacityBytes: v.capacityBytes }])) } : {}),
        },
      ]),
    ),
  };
}

export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const specs = hostSpecs(opts);
  const removeOnDown = !opts.dir;
  const dir = opts.dir ? path.resolve(opts.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'lab-'));
  if (opts.dir) {
    const old = path.join(dir, 'lab.json');
    if (fs.existsSync(old)) {
      const prev = JSON.parse(fs.readFileSync(old, 'utf8')) as LabFile;
      if (Object.values(prev.pids).some((p) => pidAlive(p, dir))) throw new Error(`lab: a lab is already up in ${dir}; run down first`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
  }
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
  const file: LabFile = { dir, removeOnDown, hosts, pids, inventoryPath };
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

function makeLab(file: LabFile): Lab {
  const { dir } = file;
  const host = (name: string): LabHost => {
    const h = file.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`lab: no host named "${name}" (hosts: ${file.hosts.map((x) => x.name).join(', ')})`);
    return h;
  };
  const store = (name: string) => new FaultStore(path.join(host(name).root, 'var', 'lab'));
  const sshArgs = (name: string): string[] => {
    const h = host(name);
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
  };
  const trustPair = (tapeHost: string, source: string) => {
    const tape = host(tapeHost);
    const src = host(source);
    if (tape.role !== 'tape') throw new Error(`lab: ${tapeHost} is not a tape host`);
    if (src.role !== 'source') throw new Error(`lab: ${source} is not a source host`);
    return { tape, src, keyName: `id_pull_${source}` };
  };
  /** Changes the inventory file in place (written whole, then renamed: a worker reading it sees one or the other). */
  const editInventory = (change: (hosts: Record<string, Record<string, unknown>>) => void): void => {
    const inv = JSON.parse(fs.readFileSync(file.inventoryPath, 'utf8')) as { hosts: Record<string, Record<string, unknown>> };
    change(inv.hosts);
    const tmp = `${file.inventoryPath}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(inv, null, 2) + '\n');
    fs.renameSync(tmp, file.inventoryPath);
  };
  return {
    dir,
    hosts: file.hosts,
    inventoryPath: file.inventoryPath,
    host,
    sshArgs,
    async fault(name, spec) {
      store(name).add(parseFaultSpec(spec));
    },
    async clearFaults(name) {
      for (const h of name ? [host(name)] : file.hosts) {
        store(h.name).clear();
        for (const dev of Object.keys(h.devices ?? {})) {
          const p = devicePaths(path.join(h.root, 'var', 'lab', 'tape'), dev);
          const st = readState(p);
          if (!st.loaded) writeState(p, { ...st, loaded: true, offset: 0 });
        }
      }
    },
    faults(name) {
      return store(name).list();
    },
    async commandLog(name) {
      const text = await fs.promises.readFile(host(name).commandLog, 'utf8');
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as CommandLogEntry);
    },
    async setHostConfig(name, { banner, ...cfg }) {
      if (banner !== undefined) setBanner(host(name).root, banner);
      const f = path.join(host(name).root, 'var', 'lab', 'config.json');
      const cur = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(f, JSON.stringify({ ...cur, ...cfg }, null, 1));
    },
    tapeState(name, device) {
      return readState(devicePaths(path.join(host(name).root, 'var', 'lab', 'tape'), device));
    },
    exec(name, command, opts = {}) {
      return new Promise((resolve, reject) => {
        const child = spawn('ssh', [...sshArgs(name), command], { stdio: ['pipe', 'pipe', 'pipe'] });
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
    },
    alive() {
      return file.hosts.map((h) => pidAlive(file.pids[h.name]!, dir));
    },
    trust(tapeHost, source, opts = {}) {
      const { tape, src, keyName } = trustPair(tapeHost, source);
      const sshDir = path.join(tape.root, 'root', '.ssh');
      fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 });
      const key = path.join(sshDir, keyName);
      if (!fs.existsSync(key)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `pull-${tapeHost}-${source}`, '-f', key]);
      const pub = fs.readFileSync(`${key}.pub`, 'utf8').trim();
      appendLineOnce(path.join(src.root, 'etc', 'ssh', 'authorized_keys'), pub);
      appendLineOnce(path.join(sshDir, 'known_hosts'), src.knownHostsLine);
      const identityFile = `/root/.ssh/${keyName}`;
      if (opts.inventory !== false) {
        editInventory((hosts) => {
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
    },
    untrust(tapeHost, source) {
      const { tape, src, keyName } = trustPair(tapeHost, source);
      editInventory((hosts) => {
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
    },
    async down() {
      const pids = Object.values(file.pids);
      // unshare ignores SIGTERM while it waits; SIGKILL makes it send SIGKILL (--kill-child) to the host's sshd,
      // pid 1 of the host's pid namespace, and with it the kernel ends every process of that host.
      for (const p of pids) {
        if (!pidAlive(p, dir)) continue;
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      const deadline = Date.now() + 5000;
      while (pids.some((p) => pidAlive(p, dir))) {
        if (Date.now() > deadline) {
          for (const p of pids) if (pidAlive(p, dir)) process.kill(p, 'SIGKILL');
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      // Mounts live in the hosts' own namespaces; never remove the tree while anything is mounted under it.
      const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4]?.startsWith(dir + '/'));
      if (file.removeOnDown && !mounted) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
