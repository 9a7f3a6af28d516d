/**
 * A fence on a tape drive, kept on the tape host: at most one activity attempt drives the tape at a time, and it is
 * always the newest one.
 *
 * Why: Temporal gives up on an attempt it has not heard from (a heartbeat timeout, a start-to-close timeout) and
 * schedules the next one, but the abandoned attempt's worker learns of it only at its next heartbeat, which the SDK
 * throttles, or never (a worker frozen by load). Meanwhile it still sends `tctl rewind`, `tctl fsf` and `dd` to the
 * drive. A drive serialises opens (AIX's rmt driver, like Linux st, refuses a second open with EBUSY), not command
 * lines: a stale `rewind` between the new attempt's `fsf 3` and its `dd` makes the new attempt read record 1 as
 * record 4, and the backup rewrites a good tape or, worse, a write lands at the wrong file.
 *
 * How, with stock AIX tools only (ksh88, mkdir, mv, awk, ps, kill):
 *   DIR/.mksysb-tape-drive-DEV.owner    the token of the attempt that holds the drive
 *   DIR/.mksysb-tape-drive-DEV.holders  "TOKEN PID NAME" per command line running on the drive under the fence
 *   DIR/.mksysb-tape-drive-DEV.lk/      a mkdir mutex around reading and changing the two (held for milliseconds)
 * `claim` (at the start of every tape activity attempt) takes the drive for TOKEN unless a newer token holds it, and
 * stops every command line of older holders (their whole process trees), except the detached command `keep` that
 * this attempt re-attaches to. `guard(cmd)` runs a command line only while TOKEN still holds the drive, registered as
 * a holder so a newer claim can stop it. A refused claim or guard prints `mksysb-tape-fence superseded OWNER` and
 * exits 75.
 *
 * Tokens are digit strings of one width, compared as strings: the attempt's scheduled time on the Temporal server (so
 * attempts on different workers compare), then its attempt number and activity ID. Pure builders: no I/O.
 */
import { assertAbsolutePath, joinPath, quote, ShellValueError } from './shell';
import { stopTreeOfP } from './detached';

export const FENCE_TAG = 'mksysb-tape-fence';
/** Exit status of a claim or guarded command line refused because a newer attempt holds the drive. */
export const SUPERSEDED_EXIT = 75;

/** What orders attempts: the server's scheduled time of the attempt, its number and the activity's ID. */
export interface AttemptIdentity {
  scheduledMs: number;
  attempt: number;
  activityId: string;
}

export function tokenFor(a: AttemptIdentity): string {
  const digits = (n: number, width: number, what: string): string => {
    if (!Number.isSafeInteger(n) || n < 0 || String(n).length > width) throw new ShellValueError(`fence token: bad ${what} ${n}`);
    return String(n).padStart(width, '0');
  };
  // The SDK's activity IDs are sequence numbers; any other ID still orders by time and attempt.
  const id = /^\d{1,9}$/.test(a.activityId) ? Number(a.activityId) : 0;
  return digits(a.scheduledMs, 15, 'time') + digits(a.attempt, 5, 'attempt') + digits(id, 9, 'activity ID');
}

/** A device or command name as a field of the holders file and part of a file name. */
function word(value: string, what: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(value)) throw new ShellValueError(`${what} must be letters, digits, "_", "." or "-": ${JSON.stringify(value)}`);
  return value;
}

function assertToken(token: string): string {
  if (!/^\d{29}$/.test(token)) throw new ShellValueError(`fence token must be 29 digits: ${JSON.stringify(token)}`);
  return token;
}

/** Shell prelude shared by claim and guard: variables, the mutex, and the comparison. */
function prelude(dir: string, device: string, token: string): string {
  const d = assertAbsolutePath(dir, 'work folder');
  const f = quote(joinPath(d, `.mksysb-tape-drive-${word(device, 'tape device name')}`));
  return [
    `mkdir -p ${quote(d)} || exit 1`,
    `F=${f}; T=${assertToken(token)}; LC_ALL=C; export LC_ALL`,
    // The mutex (held for milliseconds): broken through only after 30 tries, for a holder that died holding it.
    // Not sooner on a dead PID: a waiter that read a finished holder's PID would remove the next holder's lock.
    `n=0; until mkdir "$F.lk" 2>/dev/null; do ` +
      `n=$(expr $n + 1); if [ $n -gt 30 ]; then rm -rf "$F.lk"; n=0; else sleep 1; fi; done`,
    `echo $$ > "$F.lk/pid"`,
    `C=$(cat "$F.owner" 2>/dev/null)`,
    `refuse() { rm -rf "$F.lk"; echo "${FENCE_TAG} superseded $C"; exit ${SUPERSEDED_EXIT}; }`,
    // Drops holders whose process has ended, so the file stays small.
    `prune() { touch "$F.holders"; while read t p k; do kill -0 "$p" 2>/dev/null && echo "$t $p $k"; done < "$F.holders" > "$F.holders.tmp"; mv -f "$F.holders.tmp" "$F.holders"; }`,
  ].join('\n');
}

/**
 * Takes the drive for `token` (see the module comment); prints `mksysb-tape-fence owner TOKEN` on success. `keep`:
 * the name of this attempt's own detached command (a record write it re-attaches to), which is not stopped.
 */
export function claim(dir: string, device: string, token: string, opts: { keep?: string } = {}): string {
  // Holders without a name are recorded as "-", which no kept name can be.
  const keep = opts.keep === undefined ? '' : word(opts.keep, 'detached command name');
  return [
    prelude(dir, device, token),
    `if [ -n "$C" ] && awk -v a="$C" -v b="$T" 'BEGIN { exit !((a "") > (b "")) }'; then refuse; fi`,
    `prune`,
    `if [ "$C" != "$T" ]; then`,
    `  stopped=""; for p in $(awk -v t="$T" -v k=${quote(keep)} '($1 "") < (t "") && $3 != k { print $2 }' "$F.holders"); do ${stopTreeOfP('TERM')}; stopped="$stopped $all"; done`,
    // The drive is free only once they have exited (a process holds its open device until its exit): wait for that.
    `  i=0; while [ $i -lt 20 ]; do left=""; for x in $stopped; do kill -0 "$x" 2>/dev/null && ! ps -p "$x" -o args= 2>/dev/null | grep '<defunct>' >/dev/null && left="$left $x"; done; [ -z "$left" ] && break; i=$(expr $i + 1); sleep 1; done`,
    `  awk -v t="$T" -v k=${quote(keep)} '$3 == k { print t, $2, $3 }' "$F.holders" > "$F.holders.tmp"; mv -f "$F.holders.tmp" "$F.holders"`,
    `  echo "$T" > "$F.owner.tmp" && mv -f "$F.owner.tmp" "$F.owner"`,
    `fi`,
    `rm -rf "$F.lk"`,
    `echo "${FENCE_TAG} owner $T"`,
  ].join('\n');
}

/**
 * Runs `cmd` only while `token` holds the drive, as a registered holder (`name` for a detached command, so that
 * claim's `keep` can spare it), with `cmd`'s exit status. Without the drive: prints the refusal and exits 75.
 */
export function guard(dir: string, device: string, token: string, cmd: string, opts: { name?: string } = {}): string {
  if (cmd.trim() === '') throw new ShellValueError('guarded command is empty');
  const name = opts.name === undefined ? '-' : word(opts.name, 'detached command name');
  return [
    prelude(dir, device, token),
    `if [ "$C" != "$T" ]; then refuse; fi`,
    `prune; echo "$T $$ ${name}" >> "$F.holders"`,
    `rm -rf "$F.lk"`,
    cmd.trim(),
  ].join('\n');
}

/** The owner a refused claim or guard named, or null when the output has no refusal. */
export function parseSuperseded(stdout: string): string | null {
  const m = new RegExp(`^${FENCE_TAG} superseded (\\d*)\\s*$`, 'm').exec(stdout);
  return m ? m[1]! : null;
}
