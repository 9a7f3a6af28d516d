/**
 * A real OpenSSH sshd on 127.0.0.1 for the ssh layer's tests: fresh host and user keys (ssh-keygen) in a temporary
 * folder, `/usr/sbin/sshd -D -e -f cfg` on a free port, key-only login as the current user.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HostEndpoint } from '../../src/ssh';

export interface TestSshd {
  dir: string;
  port: number;
  pid: number;
  /** `ssh-ed25519 AAAA...` of the server. */
  hostKey: string;
  /** The user's private key (OpenSSH format). */
  privateKey: Buffer;
  privateKeyPath: string;
  endpoint(overrides?: Partial<HostEndpoint>): HostEndpoint;
  /** PIDs of the per-connection sshd processes (children of the listener). */
  sessionPids(): number[];
  /** Kills the per-connection processes (drops every connection; the listener stays). */
  killSessions(): void;
  /**
   * Kills the connection (its per-connection sshd process) that runs process `pid` and leaves the others: a test
   * that drops its own connection must not drop the connections other tests of the file share.
   */
  killSessionOf(pid: number): void;
  stop(): Promise<void>;
  log(): string;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitListening(port: number, child: ChildProcess, ms = 10000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error('sshd did not start listening');
    await sleep(50);
  }
}

/** The parent of a process (from /proc/PID/stat, whose command name may hold spaces and parentheses); 0 when gone. */
function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

export async function startSshd(extraConfig: string[] = []): Promise<TestSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'mksysb-sshd-'));
  const keygen = (file: string, type = 'ed25519'): void => {
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'mksysb-tape test', '-f', file]);
  };
  keygen(join(dir, 'host_ed25519'));
  keygen(join(dir, 'user_ed25519'));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user_ed25519.pub')), { mode: 0o600 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const user = userInfo().username;
  // sshd takes the first value of a keyword: the caller's settings come first.
  const cfg = [
    ...extraConfig,
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${join(dir, 'host_ed25519')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'StrictModes no',
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    `AllowUsers ${user}`,
    'MaxSessions 50',
    'MaxStartups 50',
    'LogLevel VERBOSE',
    'Subsystem sftp internal-sftp',
  ];
  writeFileSync(join(dir, 'sshd_config'), `${cfg.join('\n')}\n`);
  let log = '';
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
  });
  await waitListening(port, child);
  const pub = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim().split(/\s+/);
  const hostKey = `${pub[0]} ${pub[1]}`;
  const privateKeyPath = join(dir, 'user_ed25519');
  const privateKey = readFileSync(privateKeyPath);
  const pid = child.pid!;
  const sessionPids = (): number[] =>
    execFileSync('sh', ['-c', `ps -o pid= --ppid ${pid} || true`], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => n > 0);
  return {
    dir,
    port,
    pid,
    hostKey,
    privateKey,
    privateKeyPath,
    endpoint: (o = {}) => ({ name: 'testhost', address: '127.0.0.1', port, user, privateKey, hostKey, ...o }),
    sessionPids,
    killSessionOf(target: number) {
      const sessions = new Set(sessionPids());
      for (let p = target; p > 1; p = parentOf(p)) {
        if (sessions.has(p)) {
          process.kill(p, 'SIGKILL');
          return;
        }
      }
      throw new Error(`process ${target} runs in no session of this sshd`);
    },
    killSessions() {
      for (const p of sessionPids()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    },
    async stop() {
      for (const p of sessionPids()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => log,
  };
}
