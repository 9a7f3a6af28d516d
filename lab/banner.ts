/**
 * A login banner for a lab host: every SSH session prints text on stdout and on stderr before the command runs, as an
 * AIX host does whose /etc/profile or `$ENV` file talks (root's shell there is ksh88, which reads `$ENV` for
 * non-interactive shells too). The lab uses OpenSSH's per-user rc file, `/root/.ssh/rc` in the host's tree: sshd runs
 * it with `/bin/sh` before the command of every session, whatever root's login shell is, and its output reaches the
 * client (it is not run for subsystems such as sftp).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * What the banner prints on stdout: lines that resemble what the project parses without being it (a bare number, a
 * digest line, tags with a suffix, the data marker with a suffix, a `yes`), so that a parser that takes the first line
 * or the first match reads the banner instead of the command.
 */
export const BANNER_STDOUT = [
  '*** lab login banner: this is an AIX host of the lab ***',
  'Last login: Mon Jan  5 02:00:00 2026 on ssh from 127.0.0.1',
  '4096',
  'yes',
  `SHA256(/etc/motd)= ${'0123456789abcdef'.repeat(4)}`,
  'mksysb-tape-detached-motd running 1',
  'mksysb-tape-pipe-status-motd 7',
  'mksysb-tape-pull-motd ssh 255',
  'mksysb-tape-survey: size 1',
  'mksysb-tape-data-motd',
  '',
].join('\n');

/** What it prints on stderr; the last line has no newline, so the command's first stderr line follows on the same line. */
export const BANNER_STDERR = ['lab login banner on stderr', '    12345', 'Unauthorized use of this system is prohibited.'].join('\n');

function rcFile(root: string): string {
  return path.join(root, 'root', '.ssh', 'rc');
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Turns the banner of the host whose tree is `root` on or off (from the next session on). */
export function setBanner(root: string, on: boolean): void {
  const f = rcFile(root);
  if (!on) {
    fs.rmSync(f, { force: true });
    return;
  }
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
  const script = `printf '%s' ${q(BANNER_STDOUT)}\nprintf '%s' ${q(BANNER_STDERR)} >&2\n`;
  fs.writeFileSync(`${f}.tmp`, script, { mode: 0o644 });
  fs.renameSync(`${f}.tmp`, f);
}

export function hasBanner(root: string): boolean {
  return fs.existsSync(rcFile(root));
}
