/**
 * Command builders for moving a staged image from the source host to the tape host, resumable at a byte offset:
 * relayed through the worker (`readFrom` on the source piped into `writeFrom` or `writeHashing` on the tape host), or
 * pulled by the tape host itself with OpenSSH (`pull`, below). Pure: no I/O, no Node built-ins. Only AIX-safe tools:
 * `tail -c +N` (GNU's `dd iflag=` and `skip_bytes` do not exist on AIX), `dd seek=` with `if=/dev/null` to cut the
 * receiving file, `cat >>`, `printf`, and OpenSSH's `ssh` (on AIX with the OpenSSH fileset: /usr/bin/ssh).
 */
import { parseSha256, parseSha256WithStatus, sha256File, type HostOs } from './digest';
import { fileSize, fileSizeValue, freeSpace, mkdirP, parseDf, parseSizeOrAbsent, parseSizeValueOrAbsent, SIZE_TAG, type DfResult } from './images';
import { assertAbsolutePath, assertInt, assertName, command, joinPath, parsePipeStatus, PIPE_STATUS_TAG, quote, ShellValueError } from './shell';

/** Exit status of `writeFrom` when the receiving file is shorter than the offset (nothing is written). */
export const SHORT_FILE_STATUS = 3;

/**
 * The line every data stream starts with (`readFrom`). A session may print text before the command's own output (a
 * site's profile or `$ENV` file: root's ksh88 reads `$ENV` for non-interactive shells too), so a reader drops
 * everything up to and including the first line that is exactly this, and takes no stream without it.
 */
export const DATA_MARKER = 'mksysb-tape-data';

/** Exit status of a framed writer (`writeFrom`, `writeHashing` with `framed`) whose input had no `DATA_MARKER` line. */
export const NO_DATA_STATUS = 4;

/**
 * Streams FILE from byte `offset` (0 = the whole file) to standard output, after an empty line and the
 * `DATA_MARKER` line (the empty line ends a banner line that lacks its newline). `tail -c +N` counts from 1, so
 * N = offset + 1.
 */
export function readFrom(file: string, offset: number): string {
  assertAbsolutePath(file, 'file');
  assertInt(offset, 'offset', 0);
  const read = offset === 0 ? `cat ${quote(file)}` : `tail -c +${offset + 1} ${quote(file)}`;
  // Grouped, so that it is one command on the left of a pipe.
  return `{ echo; echo ${DATA_MARKER}; exec ${read}; }`;
}

/**
 * Shell text that reads standard input up to and including the first `DATA_MARKER` line, and exits the shell with
 * `NO_DATA_STATUS` when the input ends without one. A shell's `read` on a pipe reads one byte at a time, so nothing
 * past the marker's newline is consumed and the command after it gets the image from its first byte: dash and lksh
 * read(2) 1 byte per call; ksh93 peeks (recv MSG_PEEK) on the socketpairs of its own pipelines and reads exactly up to
 * the newline, and on a pipe, where the peek fails with ENOTSOCK, reads 1 byte per call too (checked with strace).
 * `IFS= read -r` is POSIX and ksh88.
 */
function skipToData(): string {
  return (
    `m=; n=; while IFS= read -r l; do n=1; if [ "$l" = ${DATA_MARKER} ]; then m=1; break; fi; done; ` +
    // Silent when nothing at all came (ssh could not log in and says why itself).
    `if [ -z "$m" ]; then if [ -n "$n$l" ]; then echo "no ${DATA_MARKER} line in the input: no image arrived" >&2; fi; exit ${NO_DATA_STATUS}; fi`
  );
}

/**
 * Receives standard input into FILE starting at byte `offset`: cuts FILE to `offset` bytes, then appends. The file
 * must already hold at least `offset` bytes (exit status 3 and a message otherwise: resume from a smaller offset);
 * offset 0 creates or empties it. The folder must exist. With `framed`, the input is a `readFrom` stream as it
 * arrives over ssh (login banner, marker, image): the image is what follows the marker, and without a marker the
 * command exits with `NO_DATA_STATUS` before it touches FILE. Framed writers exit their shell: run them in a subshell.
 */
export function writeFrom(file: string, offset: number, opts: { framed?: boolean } = {}): string {
  assertAbsolutePath(file, 'file');
  assertInt(offset, 'offset', 0);
  const f = quote(file);
  const skip = opts.framed ? `${skipToData()}; ` : '';
  if (offset === 0) return `${skip}cat > ${f}`;
  // The marker is read first: a source that then has nothing to send ends with its own status, not with ssh's broken
  // pipe after a writer that already left.
  return (
    skip +
    `have=$(${fileSizeValue(file, '0')}); ` +
    // awk compares in floating point (exact to 2^53): a 32-bit shell's test(1) would overflow past 2 GiB.
    `if awk -v h="$have" 'BEGIN { exit !(h + 0 < ${offset}) }'; then echo "receiving file has $have bytes, fewer than the offset ${offset}" >&2; exit ${SHORT_FILE_STATUS}; fi; ` +
    `dd if=/dev/null of=${f} bs=1 seek=${offset} 2>/dev/null && cat >> ${f}`
  );
}

/**
 * Receives standard input into FILE (created or emptied), then prints the SHA-256 of the file as written, so the
 * tape host checks what it holds in the same command, without a second round trip. Hashing the file after the
 * write (from the page cache) measured faster on a 2-core host than hashing the stream beside the write
 * (`tee FILE | openssl dgst -sha256`: two more processes and a pipe at full speed; see BENCHMARKS.md).
 * The output holds the write's exit status as a `pipeWithStatus` line and, when it is 0, the digest and the file's
 * size (one round trip fewer per image: on a busy tape host each costs most of a small image's move): parse with
 * `parseWritten`; a status other than 0 means the file is incomplete. Exits with the write's status.
 */
export function writeHashing(os: HostOs, file: string, opts: { framed?: boolean } = {}): string {
  assertAbsolutePath(file, 'file');
  const skip = opts.framed ? `${skipToData()}; ` : '';
  return `( ${skip}cat > ${quote(file)}; s=$?; echo "${PIPE_STATUS_TAG} $s"; if [ "$s" -eq 0 ]; then ${sha256File(os, file)} || exit 1; ${fileSize(file)} || exit 1; fi; exit "$s" )`;
}

/**
 * What `writeHashing` printed: the write's exit status and, when the whole stream was written, the copy as the tape
 * host holds it (its SHA-256 and size); `copy` is null otherwise.
 */
export function parseWritten(output: string): { status: number | null; copy: { bytes: number; sha256: string } | null } {
  const { ok, status, sha256 } = parseSha256WithStatus(output);
  const bytes = ok && output.includes(SIZE_TAG) ? parseSizeOrAbsent(output) : null;
  return { status, copy: sha256 !== null && bytes !== null ? { bytes, sha256 } : null };
}

// ---------------------------------------------------------------------------------------------------------------
// Direct pulls: the tape host reads the image from the source with its own OpenSSH client (one hop; the bytes never
// pass through the worker), when the inventory says it may (`pullFrom`).

/** How the tape host reaches a source with its own `ssh`: every value as the tape host uses it. */
export interface PullSource {
  address: string;
  port: number;
  user: string;
  /** Private key file on the tape host that the source accepts. */
  identityFile: string;
  /** known_hosts file on the tape host holding the source's pinned host key (`knownHostsLine`). */
  knownHostsFile: string;
}

/** Ciphers the pull offers: AES-GCM first (AES-NI, no separate MAC), AES-CTR for servers without GCM. */
export const PULL_CIPHERS = 'aes128-gcm@openssh.com,aes128-ctr';

/** ssh(1)'s exit status for its own failures: no connection, host key refused, login refused, connection lost. */
export const SSH_FAILED = 255;

/** Prefix of the status lines `pull` prints. */
export const PULL_TAG = 'mksysb-tape-pull';

const PLAIN_PATH = /^[A-Za-z0-9._/-]+$/;

/**
 * A path that goes into ssh's own option parsing (`-o UserKnownHostsFile=...` splits at white space, `-i` expands `%`
 * and `~`): absolute, and plain characters only.
 */
function plainPath(value: string, what: string): string {
  assertAbsolutePath(value, what);
  if (!PLAIN_PATH.test(value)) throw new ShellValueError(`${what} may contain only letters, digits, ".", "_", "-" and "/": ${JSON.stringify(value)}`);
  return value;
}

function address(value: string): string {
  if (!/^[A-Za-z0-9:][A-Za-z0-9.:-]*$/.test(value) || value.length > 253) {
    throw new ShellValueError(`address must be a host name or IP address: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The known_hosts line that pins `hostKey` (`TYPE BASE64`, as the inventory holds it) for the source as the tape host
 * names it: `ADDRESS TYPE KEY` on port 22, `[ADDRESS]:PORT TYPE KEY` on any other port.
 */
export function knownHostsLine(addr: string, port: number, hostKey: string): string {
  address(addr);
  assertInt(port, 'port', 1, 65535);
  if (!/^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}$/.test(hostKey)) throw new ShellValueError(`host key must be "TYPE BASE64": ${JSON.stringify(hostKey.slice(0, 80))}`);
  return `${port === 22 ? addr : `[${addr}]:${port}`} ${hostKey}`;
}

/** Writes one known_hosts line to FILE (replacing it). */
export function writeKnownHosts(file: string, line: string): string {
  plainPath(file, 'known_hosts file');
  assertName(line, 'known_hosts line');
  return `printf '%s\\n' ${quote(line)} > ${quote(file)}`;
}

/**
 * `ssh ... user@address REMOTE` as the tape host runs it: no configuration files (`-F /dev/null`), no prompts, the
 * source's key pinned in `knownHostsFile` and no other accepted (not even from the system-wide known hosts), only
 * `identityFile` offered, no stdin, and a connection that stops answering for a minute ends with status 255 instead of
 * hanging. `remote` is a command line for the source's shell (built by src/tape).
 */
export function sshCommand(src: PullSource, remote: string): string {
  const known = plainPath(src.knownHostsFile, 'known_hosts file');
  const identity = plainPath(src.identityFile, 'identity file');
  assertInt(src.port, 'port', 1, 65535);
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(src.user)) throw new ShellValueError(`user must be a login name: ${JSON.stringify(src.user)}`);
  assertName(remote, 'remote command');
  return command([
    'ssh', '-n', '-F', '/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${known}`,
    // The pinned file and nothing else: not the system-wide known hosts, no learning of further keys, and only the name
    // as written is looked up (older OpenSSH also checks the IP address).
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'UpdateHostKeys=no',
    '-o', 'CheckHostIP=no',
    '-o', 'IdentitiesOnly=yes',
    '-i', identity,
    '-o', 'LogLevel=ERROR',
    '-o', 'ConnectTimeout=30',
    '-o', 'ServerAliveInterval=15',
    '-o', 'ServerAliveCountMax=4',
    '-c', PULL_CIPHERS,
    '-p', String(src.port),
    `${src.user}@${address(src.address)}`,
    remote,
  ]);
}

/**
 * Run on the tape host: pulls the source's FILE from byte `offset` into TARGET (`readFrom` on the source through
 * `sshCommand`, `writeFrom` here; with `hash`, from byte 0 only, `writeHashing` instead, so the SHA-256 of the bytes
 * written comes with it). Prints status lines for `parsePull`: ssh's exit status (255: ssh's own failure; otherwise
 * the source's read), the writer's, and TARGET's size afterwards. Its own exit status says nothing: read the report.
 */
export function pull(os: HostOs, src: PullSource, file: string, offset: number, target: string, opts: { hash?: boolean } = {}): string {
  assertAbsolutePath(target, 'target');
  if (opts.hash && offset !== 0) throw new ShellValueError('a hashing pull starts at byte 0');
  const read = sshCommand(src, readFrom(file, offset));
  // The source's login may print a banner into the stream: the writer drops it up to the marker `readFrom` prints.
  const write = opts.hash ? writeHashing(os, target, { framed: true }) : writeFrom(target, offset, { framed: true });
  // The writer runs in a subshell: ksh runs a pipeline's last part in the current shell, where its `exit` would end
  // the whole command before the status lines. ksh88 waits only for the last command of a pipeline (its manual: "the
  // shell waits for the last command to terminate"; ksh93 too), so a writer that stops early (short file, no marker)
  // would let the command end while ssh still runs, and the ssh line come after the size line, or after a detached
  // command's .rc file. The status lines go through `cat`, the last command, which ends when both sides have.
  return (
    `{ { { ${read}; echo "${PULL_TAG} ssh $?" >&3; } | { ( ${write} ); echo "${PULL_TAG} write $?" >&3; }; } 3>&1 | cat; }; ` +
    `echo "${PULL_TAG} size $(${fileSizeValue(target)})"`
  );
}

export interface PullReport {
  /** ssh's exit status: `SSH_FAILED` for its own failures, otherwise the source's read; null when not reported. */
  ssh: number | null;
  /** The writer's exit status on the tape host; null when not reported. */
  write: number | null;
  /** TARGET's size after the pull; null when it does not exist or was not reported. */
  size: number | null;
  /** Hashing pulls: the SHA-256 of the bytes written, when every one was written; null otherwise. */
  sha256: string | null;
  /** Whatever else the pull printed: the messages of ssh and of the writer. */
  messages: string;
}

/** Parses the output of `pull` (status lines anywhere, as they come from several processes). */
export function parsePull(output: string): PullReport {
  const report: PullReport = { ssh: null, write: null, size: null, sha256: null, messages: '' };
  const tagged = new RegExp(`${PULL_TAG} (ssh|write|size) *(\\d+|absent)\n?`, 'g');
  // Each tag leaves a line break where it stood: the text before it may be a line without its newline (a source's login
  // banner on ssh's stderr), which must not run into the digest line after it.
  const rest = output.replace(tagged, (_all, what: 'ssh' | 'write' | 'size', value: string) => {
    report[what] = value === 'absent' ? null : Number(value);
    return '\n';
  });
  // The hashing writer's own size line goes: the pull's size tag above gives the same, for every pull.
  const unsized = rest.replace(new RegExp(`${SIZE_TAG} \\d+\n?`, 'g'), '\n');
  const piped = parsePipeStatus(unsized.replace(new RegExp(`${PIPE_STATUS_TAG} \\d+\n?`, 'g'), (line) => `\n${line}`));
  const messages: string[] = [];
  for (const line of piped.rest.split('\n')) {
    const digest = line.trim() === '' ? undefined : tryParseSha256(line);
    if (digest !== undefined && piped.status !== null) {
      if (piped.status === 0) report.sha256 = digest;
    } else if (line.trim() !== '') messages.push(line.replace(/\r$/, ''));
  }
  report.messages = messages.join('\n');
  return report;
}

function tryParseSha256(line: string): string | undefined {
  try {
    return parseSha256(line);
  } catch {
    return undefined;
  }
}

/** Name of the detached pull of record `record` from byte `offset` (one name per starting point). */
export function pullName(record: number, offset: number): string {
  assertInt(record, 'record', 1, 4);
  assertInt(offset, 'offset', 0);
  return `pull-r${record}-${offset}`;
}

/** The starting offset of a `pullName` of `record`, or null when `name` is not one. */
export function parsePullName(name: string, record: number): number | null {
  const m = new RegExp(`^pull-r${record}-(\\d+)$`).exec(name.trim());
  return m ? Number(m[1]) : null;
}

/**
 * The file in DIR that names the current detached pull of `record`, written before the pull starts, so that a retried
 * attempt finds a pull that still runs (its name depends on where it started) instead of starting a second one.
 */
function markFile(dir: string, record: number): string {
  assertInt(record, 'record', 1, 4);
  return joinPath(dir, `pull-r${record}.current`);
}

/** Records `name` as the current pull of `record` in DIR. */
export function markPull(dir: string, record: number, name: string): string {
  if (parsePullName(name, record) === null) throw new ShellValueError(`not a pull name of record ${record}: ${JSON.stringify(name)}`);
  return `echo ${quote(name)} > ${quote(markFile(dir, record))}`;
}

/** Prints the current pull's name of `record` in DIR (nothing when there is none). Parse with `parsePullName`. */
export function currentPull(dir: string, record: number): string {
  const f = quote(markFile(dir, record));
  return `if [ -f ${f} ]; then cat ${f}; fi`;
}

/** Removes the mark of `record`'s current pull. */
export function unmarkPull(dir: string, record: number): string {
  return command(['rm', '-f', markFile(dir, record)]);
}

/** Prefix of the lines `survey` prints. */
export const SURVEY_TAG = 'mksysb-tape-survey';

/**
 * One round trip before a move to the tape host: creates the staging folder DIR and prints the name of the current
 * pull of `record` (`currentPull`), TARGET's size (or absent) and `df -k DIR`. Parse with `parseSurvey`.
 */
export function survey(dir: string, target: string, record: number): string {
  return (
    `${mkdirP(dir)} && ` +
    `echo "${SURVEY_TAG} pull $(${currentPull(dir, record)})" && ` +
    `echo "${SURVEY_TAG} size $(${fileSizeValue(target)})" && ` +
    freeSpace(dir)
  );
}

export interface Survey {
  /** Name of the current pull of the record, as `currentPull` printed it ('' when none). */
  pull: string;
  /** TARGET's size, null when absent. */
  size: number | null;
  df: DfResult;
}

export function parseSurvey(stdout: string): Survey {
  let pull = '';
  let size: number | null | undefined;
  const rest: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = new RegExp(`^${SURVEY_TAG} (pull|size) ?(.*)$`).exec(line);
    if (!m) rest.push(line);
    else if (m[1] === 'pull') pull = m[2]!.trim();
    else size = parseSizeValueOrAbsent(m[2]!);
  }
  if (size === undefined) throw new ShellValueError(`no size in survey output: ${JSON.stringify(stdout.slice(0, 200))}`);
  return { pull, size, df: parseDf(rest.join('\n')) };
}
