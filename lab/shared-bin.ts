/**
 * The lab's shared folder, bind-mounted read-only at /lab in every host: the bundled doubles and the two PATH
 * folders, bin-aix (POSIX tools, AIX command doubles, `uname`, `sh` the chosen shell) and bin-linux (the Linux tape
 * doubles). Also where the AIX shells are found on this machine.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AIX_SHELLS, type AixShell } from './types';

/** POSIX tools an AIX host offers (as far as the workflow needs them); GNU-only tools are left out on purpose. */
const AIX_TOOLS = [
  'cat', 'ls', 'rm', 'rmdir', 'mkdir', 'mv', 'cp', 'ln', 'sleep', 'head', 'tail', 'ps', 'nohup', 'openssl',
  'grep', 'egrep', 'fgrep', 'sed', 'awk', 'cut', 'tr', 'sort', 'uniq', 'date', 'touch', 'chmod', 'chown', 'chgrp',
  'pwd', 'id', 'hostname', 'env', 'true', 'false', 'expr', 'basename', 'dirname', 'find', 'tee', 'xargs', 'sync',
  'od', 'cmp', 'diff', 'tar', 'file', 'cksum', 'sum', 'du', 'whoami', 'logname', 'nice', 'which', 'cpio', 'split',
  'paste', 'join', 'comm', 'fold', 'kill', 'echo', 'printf', 'test', '[', 'mkfifo',
  // OpenSSH's client, /usr/bin/ssh and /usr/bin/scp on AIX (the source end of `scp -O` runs `scp -f` from the PATH).
  'ssh', 'scp',
];
const AIX_DOUBLES = ['dd', 'tctl', 'chdev', 'lsattr', 'lsdev', 'bosboot', 'mkinsttape', 'mksysb', 'lsmksysb', 'restore', 'df', 'wc'];
const LINUX_DOUBLES = ['dd', 'mt'];
const LINUX_WRAPPED = ['cat', 'tail'];

const AIX_UNAME =
  '#!/bin/sh\nn=$(cat /etc/hostname)\ncase "$1" in\n -a) echo "AIX $n 2 7 00C0FFEE4C00";;\n -n) echo "$n";;\n -r) echo 2;;\n -v) echo 7;;\n' +
  ' -p) echo powerpc;;\n -m) echo 00C0FFEE4C00;;\n -W) echo 0;;\n *) echo AIX;;\nesac\n';

function which(tool: string): string | undefined {
  for (const d of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const p = path.join(d, tool);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** The real path of an AIX shell; /usr and /bin are bind-mounted from the machine, so it exists in every host's tree. */
export function shellPath(shell: AixShell): string {
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

const node = process.execPath.startsWith('/usr/') ? process.execPath : '/usr/bin/node';
/** The scripts a PATH folder holds: a double runs always; a wrapped tool runs the double only while a fault arms it. */
const double = (name: string) => `#!/bin/sh\nexec ${node} /lab/doubles.cjs ${name} "$@"\n`;
const wrapped = (name: string, real: string) =>
  `#!/bin/sh\n[ -e /var/lab/armed/${name} ] && exec ${node} /lab/doubles.cjs wrap ${name} ${real} "$@"\nexec ${real} "$@"\n`;
const put = (file: string, text: string) => fs.writeFileSync(file, text, { mode: 0o755 });

function writeAixBin(aix: string, aixShell: string): void {
  fs.mkdirSync(aix, { recursive: true });
  fs.symlinkSync(aixShell, path.join(aix, 'sh'));
  for (const t of AIX_TOOLS) {
    const real = which(t);
    if (real) put(path.join(aix, t), wrapped(t, real));
  }
  for (const d of AIX_DOUBLES) put(path.join(aix, d), double(d));
  put(path.join(aix, 'uname'), AIX_UNAME);
}

function writeLinuxBin(lin: string): void {
  fs.mkdirSync(lin, { recursive: true });
  for (const d of LINUX_DOUBLES) put(path.join(lin, d), double(d));
  for (const t of LINUX_WRAPPED) put(path.join(lin, t), wrapped(t, which(t)!));
}

/** Fills the shared folder; `aixShell` is the real path of the AIX hosts' shell (`shellPath`). */
export function writeShared(shared: string, aixShell: string): void {
  fs.mkdirSync(shared, { recursive: true });
  bundleDoubles(path.join(shared, 'doubles.cjs'));
  writeAixBin(path.join(shared, 'bin-aix'), aixShell);
  writeLinuxBin(path.join(shared, 'bin-linux'));
}
