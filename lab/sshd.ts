/**
 * Each lab host's sshd: its config, the script that builds the host's mount namespace and chroots into its tree,
 * starting it under unshare, waiting until it greets, and stopping it.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { LabHost } from './types';

/** `n` ports free on 127.0.0.1 right now (each host's sshd listens on one). */
export async function freePorts(n: number): Promise<number[]> {
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

export function sshdConfig(port: number, pathVar: string): string {
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

/** The machine's top-level folders a host's tree shares, bind-mounted read-only (the lib ones where they exist). */
export const SYSTEM_DIRS = ['bin', 'sbin', 'lib', 'lib64', 'lib32', 'libx32'];

function setupScript(root: string, shared: string, binSh?: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const R = q(root);
  const lines = [
    'set -e',
    `mount --bind /usr ${R}/usr`,
    `mount -o remount,bind,ro ${R}/usr`,
  ];
  for (const d of SYSTEM_DIRS) {
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

/** Starts the host's sshd in its own mount, pid and uts namespace; returns the pid of its `unshare`. */
export function startSshd(dir: string, host: LabHost): number {
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

/** Whether `pid` is a live (not zombie) process of the lab in `dir`: a recycled pid of another program is not. */
export function pidAlive(pid: number, dir: string): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return false;
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
  } catch {
    return false;
  }
}

/** Whether an sshd on `port` sends its `SSH-2.0` greeting within a second. */
function greets(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
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
}

/** Why the host did not start: what unshare and the setup script printed, then sshd's own log. */
function startFailure(host: LabHost, dir: string): Error {
  const out = fs.readFileSync(path.join(dir, 'hosts', host.name, 'sshd.out'), 'utf8');
  let log = '';
  try {
    log = fs.readFileSync(path.join(host.root, 'var', 'log', 'sshd.log'), 'utf8');
  } catch {
    /* none */
  }
  return new Error(`lab host ${host.name} did not start: ${out}${log}`);
}

export async function waitReady(host: LabHost, pid: number, dir: string): Promise<void> {
  const deadline = Date.now() + 15000;
  for (;;) {
    if (await greets(host.port)) return;
    if (!pidAlive(pid, dir) || Date.now() > deadline) throw startFailure(host, dir);
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** Ends the hosts' sshd processes and waits until they are gone. */
export async function stopSshd(pids: number[], dir: string): Promise<void> {
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
}
