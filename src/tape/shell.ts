/**
 * POSIX shell quoting and composition, for command lines run by `/bin/sh` (a POSIX ksh on AIX, ksh88 dialect) or by
 * a Linux `/bin/sh`. Pure functions: no I/O, no Node built-ins (the Temporal workflow sandbox imports this module).
 *
 * Every command string the project runs on a remote host is assembled from these helpers. Rules:
 * - Untrusted or variable text enters a command only through `quote()` (or `command()`, which quotes each word).
 * - The join helpers (`and`, `seq`, `pipe`, ...) take parts that are already complete, quoted commands.
 * - Only constructs that ksh88 and POSIX sh both know are used: no `$'...'`, no arrays, no `[[ ]]`, no `local`.
 */

/** Raised when a value cannot be placed safely on a remote command line. */
export class ShellValueError extends Error {
  override name = 'ShellValueError';
}

/** Words made only of these characters need no quoting in any POSIX shell (kept unquoted for readable logs). */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * Quotes one argument for a POSIX shell: the shell hands the program exactly these bytes as one argument, whatever
 * they contain (quotes, `$()`, backticks, `;`, newlines, Unicode). NUL cannot be passed in an argv and throws.
 */
export function quote(arg: string): string {
  if (typeof arg !== 'string') throw new ShellValueError(`shell argument must be a string, got ${typeof arg}`);
  if (arg.includes('\0')) throw new ShellValueError('shell argument contains a NUL byte');
  if (arg !== '' && SAFE_WORD.test(arg) && !arg.startsWith('=')) return arg;
  // Inside single quotes nothing is special except the closing quote: close, emit an escaped quote, reopen.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** One simple command: every word quoted. */
export function command(argv: readonly string[]): string {
  if (argv.length === 0) throw new ShellValueError('empty command');
  const [first, ...rest] = argv as [string, ...string[]];
  // A bare first word with `=` would be an assignment, not a command name.
  const head = first.includes('=') ? `'${first.replace(/'/g, `'\\''`)}'` : quote(first);
  if (first.includes('\0')) throw new ShellValueError('shell argument contains a NUL byte');
  return [head, ...rest.map(quote)].join(' ');
}

function parts(cmds: readonly string[], what: string): string[] {
  const list = cmds.filter((c) => c.trim() !== '');
  if (list.length === 0) throw new ShellValueError(`${what}: no command`);
  return list;
}

/** `a && b && c`: stops at the first failure; its status is the status of the whole. */
export function and(...cmds: string[]): string {
  return parts(cmds, 'and').map(group).join(' && ');
}

/** `a || b`. */
export function or(...cmds: string[]): string {
  return parts(cmds, 'or').map(group).join(' || ');
}

/** `a; b; c`: runs all of them; the status is the last one's. */
export function seq(...cmds: string[]): string {
  return parts(cmds, 'seq').map(group).join('; ');
}

/** `a | b | c`: the status is the last command's (POSIX sh has no pipefail); see `pipeWithStatus`. */
export function pipe(...cmds: string[]): string {
  return parts(cmds, 'pipe').map(group).join(' | ');
}

/** Wraps a compound command in `{ ...; }` so it composes safely with other operators. Simple commands stay bare. */
export function group(cmd: string): string {
  const c = cmd.trim();
  if (isSimple(c)) return c;
  return `{ ${c}; }`;
}

/** True when the text has no top-level operator (`;`, `&`, `|`, newline) outside quotes and braces. */
function isSimple(cmd: string): boolean {
  let depth = 0;
  let i = 0;
  while (i < cmd.length) {
    const ch = cmd[i];
    if (ch === "'") {
      const end = cmd.indexOf("'", i + 1);
      if (end < 0) return false;
      i = end + 1;
      continue;
    }
    if (ch === '\\') {
      i += 2;
      continue;
    }
    if (ch === '"') {
      // Our builders never emit double quotes around operators; treat as opaque until the closing quote.
      let j = i + 1;
      while (j < cmd.length && cmd[j] !== '"') j += cmd[j] === '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    if (ch === '{' || ch === '(') depth++;
    else if (ch === '}' || ch === ')') depth--;
    else if (depth === 0 && (ch === ';' || ch === '&' || ch === '|' || ch === '\n')) return false;
    i++;
  }
  return true;
}

/** `cmd > file` (truncate). `file` is quoted here. */
export function redirectOut(cmd: string, file: string): string {
  return `${group(cmd)} > ${quote(file)}`;
}

/** `cmd 2>/dev/null`. */
export function quietErr(cmd: string): string {
  return `${group(cmd)} 2>/dev/null`;
}

/** Prefix of the status line `pipeWithStatus` adds to stdout. */
export const PIPE_STATUS_TAG = 'mksysb-tape-pipe-status';

/**
 * `left | right`, with left's exit status printed on stdout as a line `mksysb-tape-pipe-status N` (POSIX sh has no
 * pipefail). Works in ksh88: fd 3 is the command's stdout, kept open inside the pipeline's left side.
 * Parse it with `parsePipeStatus`.
 */
export function pipeWithStatus(left: string, right: string): string {
  return `{ { ${left}; echo "${PIPE_STATUS_TAG} $?" >&3; } | ${group(right)}; } 3>&1`;
}

/** Reads the status line written by `pipeWithStatus` and returns it, with the other lines. */
export function parsePipeStatus(stdout: string): { status: number | null; rest: string } {
  // The status line reaches stdout by its own path (fd 3), so it may land in the middle of the right side's output
  // when that output has no newline where the status line arrives: take it out wherever it stands.
  let status: number | null = null;
  const re = new RegExp(`${PIPE_STATUS_TAG} (\\d+)\n?`, 'g');
  const rest = stdout.replace(re, (_all, code: string) => {
    status = Number(code);
    return '';
  });
  return { status, rest };
}

/**
 * Asserts that a name (a file name, a path, a device) can be used in command lines and parsed back from the output
 * of line-oriented tools: no NUL, no newline or carriage return, not empty. Returns the name.
 */
export function assertName(value: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw new ShellValueError(`${what} must be a non-empty string`);
  if (/[\0\n\r]/.test(value)) throw new ShellValueError(`${what} must not contain NUL, newline or carriage return`);
  return value;
}

/** Asserts an absolute path without `.`/`..` segments or repeated slashes; returns it without a trailing slash. */
export function assertAbsolutePath(value: string, what: string): string {
  assertName(value, what);
  if (!value.startsWith('/')) throw new ShellValueError(`${what} must be an absolute path: ${JSON.stringify(value)}`);
  const trimmed = value.length > 1 ? value.replace(/\/+$/, '') : value;
  const segs = trimmed.split('/').slice(1);
  if (trimmed !== '/' && segs.some((s) => s === '' || s === '.' || s === '..')) {
    throw new ShellValueError(`${what} must be a normalised path (no empty, "." or ".." segments): ${JSON.stringify(value)}`);
  }
  return trimmed;
}

/** Asserts a single path segment (a file or folder name inside a folder). */
export function assertSegment(value: string, what: string): string {
  assertName(value, what);
  if (value.includes('/') || value === '.' || value === '..') {
    throw new ShellValueError(`${what} must be a single path segment: ${JSON.stringify(value)}`);
  }
  return value;
}

/** Joins an absolute folder and a segment. */
export function joinPath(dir: string, name: string): string {
  const d = assertAbsolutePath(dir, 'folder');
  assertSegment(name, 'name');
  return d === '/' ? `/${name}` : `${d}/${name}`;
}

/** Asserts an integer in a range; returns it. */
export function assertInt(value: number, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ShellValueError(`${what} must be an integer in ${min}..${max}, got ${String(value)}`);
  }
  return value;
}

/**
 * Runs `cmd` so that it is killed, with every process it started, when the SSH channel that runs it closes early
 * (an abort, a dropped connection, a crashed worker). OpenSSH does not deliver SSH "signal" requests to root
 * sessions (no post-authentication privilege separation for root), so a closed channel is the only notice a remote
 * command gets; a command that does not write to its stdout (`dd if=tape | openssl dgst` writes only at the end) would
 * otherwise run on, holding the tape.
 *
 * How: the command runs in the background with stdin from /dev/null; a watcher reads the session's stdin, which the
 * client keeps open until the command ends; EOF on it (the channel closed) makes the watcher send SIGTERM to the
 * session's process group (sshd makes each session its own group with setsid). When the command ends normally the
 * watcher is dismissed and the exit status is the command's. The client must hold stdin open (SshHost.exec's
 * `lifeline` option); a detached start that must outlive its session is run without it.
 */
export function killOnHangup(cmd: string): string {
  return (
    `exec 3<&0 0</dev/null; ` +
    `( ${cmd.trim()}\n) & c=$!; ` +
    `{ cat <&3 >/dev/null 2>&1; kill -TERM 0; } & w=$!; ` +
    `exec 3<&-; wait $c; rc=$?; kill $w 2>/dev/null; exit $rc`
  );
}
