/**
 * Detached remote commands: long commands (mksysb, a tape write) run under `nohup` in the background on their host,
 * with their process ID, exit status and output kept in files of the backup's work folder, so they survive the SSH
 * session and the worker. A retried activity re-attaches to a running command or takes its finished result instead
 * of starting it again. Pure builders and parsers: no I/O, no Node built-ins.
 *
 * Files, for a command NAME in folder DIR:
 *   NAME.pid      process ID of the wrapper shell (`sh -c 'CMD; echo $? > NAME.rc'`)
 *   NAME.rc       exit status of CMD, written (atomically, via NAME.rc.tmp and mv) when CMD ends
 *   NAME.out      standard output and error of CMD
 *   NAME.stopped  written by `stop`
 *
 * Only stock AIX userland is used (no setsid, timeout or stat): `nohup`, `kill`, `ps -e -o pid= -o ppid=`, `awk`,
 * `sort`, `mv`, `cat`, `tail`. A process is "alive" when `kill -0 PID` succeeds; a PID reused after a reboot would
 * look alive until the next poll after it ends (no portable process start time exists on AIX without `ps` parsing).
 *
 * Stopping without process groups: AIX has no setsid(1) and a non-interactive shell keeps background jobs in its own
 * process group, so `stop` walks the process tree from the wrapper (ps + awk), freezes every process found with
 * SIGSTOP (repeating until no new descendant appears, so nothing forks behind our back), then sends SIGTERM (or
 * SIGKILL) to all of them and SIGCONT so that they act on it.
 */
import { assertAbsolutePath, assertSegment, joinPath, quote, ShellValueError } from './shell';

/** Prefix of the state line printed by start, poll and stop. */
export const STATE_TAG = 'mksysb-tape-detached';

export type DetachedState =
  | { state: 'started'; pid: number }
  | { state: 'running'; pid: number }
  | { state: 'exited'; code: number }
  | { state: 'stopped'; pid: number | null }
  | { state: 'vanished'; pid: number | null }
  | { state: 'absent' };

interface Files {
  dir: string;
  pid: string;
  rc: string;
  rcTmp: string;
  out: string;
  stopped: string;
}

function files(dir: string, name: string): Files {
  const d = assertAbsolutePath(dir, 'work folder');
  assertSegment(name, 'command name');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new ShellValueError(`command name must be letters, digits, "_", "." or "-": ${JSON.stringify(name)}`);
  }
  const q = (suffix: string): string => quote(joinPath(d, `${name}${suffix}`));
  return { dir: quote(d), pid: q('.pid'), rc: q('.rc'), rcTmp: q('.rc.tmp'), out: q('.out'), stopped: q('.stopped') };
}

/** Shell text: is the process in NAME.pid alive? */
function alive(f: Files): string {
  // A zombie (killed, not yet reaped by init) answers kill -0: `ps -o args=` shows it as <defunct> on AIX and Linux.
  return (
    `{ [ -f ${f.pid} ] && kill -0 "$(cat ${f.pid})" 2>/dev/null && ` +
    `! ps -p "$(cat ${f.pid})" -o args= 2>/dev/null | grep '<defunct>' >/dev/null; }`
  );
}

/** Shell text printing the current state (the same for poll and the "already there" branches of start). */
function stateScript(f: Files): string {
  return (
    `if ${alive(f)}; then echo "${STATE_TAG} running $(cat ${f.pid})"; ` +
    `elif [ -f ${f.stopped} ]; then echo "${STATE_TAG} stopped $(cat ${f.pid} 2>/dev/null)"; ` +
    `elif [ -f ${f.rc} ]; then echo "${STATE_TAG} exited $(cat ${f.rc})"; ` +
    `elif [ -f ${f.pid} ]; then echo "${STATE_TAG} vanished $(cat ${f.pid})"; ` +
    `else echo "${STATE_TAG} absent"; fi`
  );
}

/**
 * Starts `cmd` detached in `dir` (created if needed) unless it is already running or has finished:
 * - running (NAME.pid alive): prints `running PID`, starts nothing;
 * - finished (NAME.rc present, not stopped): prints `exited RC`, starts nothing;
 * - never started, stopped by `stop`, or vanished (pid file, no process, no rc: host rebooted): starts it and prints
 *   `started PID`.
 * `cmd` is any command built by src/tape; it runs with `dir` as working folder under `/bin/sh`.
 *
 * With `wait`, the starting shell stays until the command it started ends (`wait $!`) and then prints the final state
 * as a second line: the caller learns of the end at once instead of at its next poll. The command does not depend on
 * that shell: when the session goes away early (a dropped connection, a worker that stops waiting), it runs on under
 * nohup and is polled as usual. Whoever closes that session must close it without signalling it, since a session
 * signal reaches the whole process group, the command included.
 */
export function start(dir: string, name: string, cmd: string, opts: { wait?: boolean } = {}): string {
  const f = files(dir, name);
  if (cmd.trim() === '') throw new ShellValueError('detached command is empty');
  if (cmd.includes('\0')) throw new ShellValueError('detached command contains NUL');
  // CMD runs in a subshell so that an `exit` in it cannot skip the status file.
  const wrapper = `(\n${cmd}\n)\nrc=$?\necho "$rc" > ${f.rcTmp} && mv -f ${f.rcTmp} ${f.rc}\n`;
  const launch =
    `rm -f ${f.stopped} ${f.rc} ${f.rcTmp}; ` +
    `nohup /bin/sh -c ${quote(wrapper)} > ${f.out} 2>&1 < /dev/null & ` +
    `echo $! > ${f.pid}; echo "${STATE_TAG} started $!"` +
    (opts.wait ? `; wait $!; ${stateScript(f)}` : '');
  return (
    `mkdir -p ${f.dir} && cd ${f.dir} && ` +
    `if ${alive(f)}; then echo "${STATE_TAG} running $(cat ${f.pid})"; ` +
    `elif [ -f ${f.rc} ] && [ ! -f ${f.stopped} ]; then echo "${STATE_TAG} exited $(cat ${f.rc})"; ` +
    `else ${launch}; fi`
  );
}

/** Prints the state: running PID, exited RC, stopped [PID], vanished PID, or absent. Starts nothing. */
export function poll(dir: string, name: string): string {
  return stateScript(files(dir, name));
}

/**
 * Stops a running detached command and all its descendants (see the module comment), marks it stopped, and prints
 * `stopped PID`; prints the current state without touching anything when it is not running.
 */
export function stop(dir: string, name: string, signal: 'TERM' | 'KILL' = 'TERM'): string {
  const f = files(dir, name);
  return (
    `if ${alive(f)}; then ` +
    `p=$(cat ${f.pid}); ` +
    `echo "${signal}" > ${f.stopped}; ` +
    `${stopTreeOfP(signal)}; ` +
    `echo "${STATE_TAG} stopped $p"; ` +
    `else ${stateScript(f)}; fi`
  );
}

/**
 * Shell text: stops the process whose ID is in `$p` and all its descendants (see the module comment: freeze the
 * tree with SIGSTOP until it stops growing, then `signal` and SIGCONT). Sets `$all` and `$t`.
 */
export function stopTreeOfP(signal: 'TERM' | 'KILL' = 'TERM'): string {
  const tree =
    `ps -e -o pid= -o ppid= | awk -v root="$p" ` +
    quote(
      '{ pp[$1] = $2 } END { d[root] = 1; do { ch = 0; for (x in pp) if ((pp[x] in d) && !(x in d)) { d[x] = 1; ch = 1 } } while (ch); for (x in d) print x }',
    ) +
    ' | sort -n';
  // The process itself is always in the list, even if ps gives nothing.
  const list = `{ echo "$p"; ${tree}; } | sort -un`;
  return (
    `all=""; ` +
    `for i in 1 2 3 4 5 6 7 8; do t=$(${list}); [ "$t" = "$all" ] && break; all=$t; kill -STOP $all 2>/dev/null; done; ` +
    `kill -${signal} $all 2>/dev/null; kill -CONT $all 2>/dev/null`
  );
}

/** Last `lines` lines of the command's output (for error messages). */
export function outputTail(dir: string, name: string, lines = 20): string {
  const f = files(dir, name);
  if (!Number.isSafeInteger(lines) || lines < 1 || lines > 10000) throw new ShellValueError('lines must be 1..10000');
  return `if [ -f ${f.out} ]; then tail -n ${lines} ${f.out}; fi`;
}

/** Removes the command's bookkeeping files (after its result has been taken), so a later start runs it again. */
export function forget(dir: string, name: string): string {
  const f = files(dir, name);
  return `rm -f ${f.pid} ${f.rc} ${f.rcTmp} ${f.out} ${f.stopped}`;
}

/** Parses the last state line printed by start, poll or stop. Throws when there is none. */
export function parseState(stdout: string): DetachedState {
  const lines = stdout.split('\n').filter((l) => l.startsWith(`${STATE_TAG} `));
  const line = lines[lines.length - 1];
  if (!line) throw new ShellValueError(`no detached-command state in output: ${JSON.stringify(stdout.slice(0, 200))}`);
  const [, state, value] = line.trim().split(/\s+/);
  const num = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  switch (state) {
    case 'started':
    case 'running': {
      const pid = num(value);
      if (pid === null) throw new ShellValueError(`bad PID in state line: ${JSON.stringify(line)}`);
      return { state, pid };
    }
    case 'exited': {
      const code = num(value);
      if (code === null) throw new ShellValueError(`bad exit status in state line: ${JSON.stringify(line)}`);
      return { state, code };
    }
    case 'stopped':
    case 'vanished':
      return { state, pid: num(value) };
    case 'absent':
      return { state };
    default:
      throw new ShellValueError(`unknown detached-command state: ${JSON.stringify(line)}`);
  }
}

/** Prefix of the line `anySucceeded` prints. */
export const SUCCEEDED_TAG = 'mksysb-tape-succeeded';

/**
 * Prints `mksysb-tape-succeeded yes` when some detached command of `dir` whose name starts with `prefix` exited 0
 * (its NAME.rc holds 0), `mksysb-tape-succeeded no` otherwise. Used to recognise a cartridge this backup has already
 * written to. Parse with `parseAnySucceeded`.
 */
export function anySucceeded(dir: string, prefix: string): string {
  const d = assertAbsolutePath(dir, 'work folder');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(prefix)) throw new ShellValueError(`name prefix must be letters, digits, "_", "." or "-": ${JSON.stringify(prefix)}`);
  return (
    `for f in ${quote(d)}/${prefix}*.rc; do ` +
    `if [ -f "$f" ] && [ "$(cat "$f")" = 0 ]; then echo "${SUCCEEDED_TAG} yes"; exit 0; fi; done; echo "${SUCCEEDED_TAG} no"`
  );
}

/** The answer of `anySucceeded` (its last tagged line; a login banner may print anything before it). */
export function parseAnySucceeded(stdout: string): boolean {
  const lines = stdout.split('\n').filter((l) => /^mksysb-tape-succeeded (yes|no)\s*$/.test(l));
  const line = lines[lines.length - 1];
  if (!line) throw new ShellValueError(`no ${SUCCEEDED_TAG} line in output: ${JSON.stringify(stdout.slice(0, 200))}`);
  return line.trim().endsWith(' yes');
}
