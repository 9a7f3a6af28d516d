/**
 * Record 4 written while mksysb still writes it (`writeWhileMksysb`): the tape host feeds its staged copy of the
 * growing image to the drive as the copy grows, and the last bytes once the worker has sealed the stream with the
 * image's final, verified size. Pure builders and parsers.
 *
 * Only stock AIX tools and ksh88: `ls -ln` for the copy's size (AIX's `wc -c` reads every byte; AIX-TAPE.md, "AIX
 * userland"), `awk` for the division (ksh88 arithmetic is a C long, 32 bits in AIX's ksh, and a mksysb image passes
 * 2^31 bytes: the shell only ever counts chunks), `dd` with `bs` and `count` on a descriptor held open on the copy, so
 * each read goes on from the last one and nothing is read twice or past what exists (no `skip=` re-reading from the
 * start, no `tail -f`, which never ends by itself), `tee` and a FIFO into `openssl dgst -sha256` for the SHA-256 of
 * exactly what went to the drive, and `dd ibs= obs=` to re-block the pipe's short reads into whole tape blocks.
 */
import { sha256Stdin, type HostOs } from './digest';
import type { TapeDriver } from './drivers';
import { assertBlockSize } from './layout';
import { and, assertAbsolutePath, assertInt, command, joinPath, quote } from './shell';

/** What one read of the growing copy takes: whole chunks only, until the stream is sealed. */
export const STREAM_CHUNK = 1 << 20;

const TAG = 'mksysb-tape-stream';

/** The files of one stream (named as its detached command) in the tape host's staging folder. */
export interface StreamFiles {
  /** The staged copy of the mksysb image, growing. */
  copy: string;
  /** Written by the worker once the copy is the source's image: "BYTES PADDING". */
  seal: string;
  /** What the stream sent, as `sha256Stdin` printed it. */
  digest: string;
  /** Scratch: the FIFO, the feed's status. */
  work: string;
}

export function streamFiles(stagingDir: string, copy: string, name: string): StreamFiles {
  assertAbsolutePath(stagingDir, 'staging folder');
  return { copy, seal: joinPath(stagingDir, `${name}.seal`), digest: joinPath(stagingDir, `${name}.sha256`), work: joinPath(stagingDir, `.${name}`) };
}

/**
 * Prints the copy's bytes as they come: each poll the whole chunks the copy holds beyond those sent, or a wait of
 * `pollSeconds`; once the seal exists, the rest to the copy's end. Exits 0 after the last byte; non-zero when a read
 * failed.
 */
export function feedGrowingCopy(f: StreamFiles, pollSeconds = 1): string {
  assertInt(pollSeconds, 'poll seconds', 1, 60);
  const copy = quote(f.copy);
  const seal = quote(f.seal);
  const chunks = `ls -ln ${copy} | awk 'NR == 1 { print int($5 / ${STREAM_CHUNK}) }'`;
  return [
    `while [ ! -f ${copy} ] && [ ! -f ${seal} ]; do sleep ${pollSeconds}; done`,
    `exec 3< ${copy} || exit 1`,
    'n=0',
    'while :; do',
    `  if [ -f ${seal} ]; then cat <&3 || exit 1; exit 0; fi`,
    `  w=$(${chunks}); w=\${w:-0}`,
    `  if [ "$w" -gt "$n" ]; then dd bs=${STREAM_CHUNK} count=$(( w - n )) <&3 2>/dev/null || exit 1; n=$w; else sleep ${pollSeconds}; fi`,
    'done',
  ].join('\n');
}

/**
 * Positions at record 4 and writes the growing copy to it at `blockSize`: the copy's bytes through `tee` into their
 * SHA-256 (saved in `f.digest`), then the NULs the seal names (record 4 above 512-byte blocks is padded to the block),
 * re-blocked by dd. Fails when the feed failed, so a stream cut short never passes for a whole record.
 */
export function streamRecord4(os: HostOs, driver: TapeDriver, device: string, blockSize: number, f: StreamFiles, pollSeconds = 1): string {
  assertBlockSize(blockSize);
  const w = quote(f.work);
  const fifo = quote(joinPath(f.work, 'fifo'));
  const rc = quote(joinPath(f.work, 'rc'));
  const pad = `if [ "$(cat ${rc})" = 0 ]; then read t p < ${quote(f.seal)}; if [ "$p" -gt 0 ]; then dd if=/dev/zero bs=$p count=1 2>/dev/null; fi; fi`;
  const dd = command(['dd', `of=${driver.noRewindDevice(device)}`, `ibs=${blockSize}`, `obs=${blockSize}`]);
  const write = [
    `rm -rf ${w} ${quote(f.digest)} && mkdir -p ${w} && mkfifo ${fifo}`,
    `${sha256Stdin(os)} < ${fifo} > ${quote(f.digest)}.tmp &`,
    // The feed runs in a subshell of its own: its `exit` ends only the feed, and its status is kept for the padding.
    `{ { (
${feedGrowingCopy(f, pollSeconds)}
); echo $? > ${rc}; } | tee ${fifo}; ${pad}; } | ${dd}`,
    'st=$?',
    'wait',
    `if [ "$(cat ${rc})" != 0 ]; then echo "${TAG}: reading ${f.copy} failed" >&2; st=3; fi`,
    `if [ $st -eq 0 ]; then mv ${quote(f.digest)}.tmp ${quote(f.digest)}; fi`,
    `rm -rf ${w}`,
    'exit $st',
  ].join('\n');
  // A subshell: its `exit` ends the write alone, so a caller can still look at the status (volumes.endOfMediumIsResult).
  return and(...driver.setBlockSize(device, blockSize), ...driver.positionForRecord(device, 4), `(\n${write}\n)`);
}

/** The seal: the copy's final size and the NULs that pad record 4 to its block. */
export function sealStream(f: StreamFiles, bytes: number, padding: number): string {
  assertInt(bytes, 'image size', 1);
  assertInt(padding, 'padding', 0);
  const seal = quote(f.seal);
  return `echo ${bytes} ${padding} > ${seal}.tmp && mv ${seal}.tmp ${seal}`;
}

/**
 * The stream's digest file, printed with a tag (or "absent" when it wrote none), and the image size its seal named.
 * Parse the size with `parseSealedBytes`.
 */
export function readDigest(f: StreamFiles): string {
  const d = quote(f.digest);
  const seal = quote(f.seal);
  return `if [ -f ${d} ]; then cat ${d}; else echo "${TAG} absent"; fi; if [ -f ${seal} ]; then read t p < ${seal}; echo "${TAG} sealed $t"; fi`;
}

/** The image size the seal named, from `readDigest`'s output; undefined when there was no seal. */
export function parseSealedBytes(stdout: string): number | undefined {
  const m = new RegExp(`^${TAG} sealed (\\d+)$`, 'm').exec(stdout);
  return m ? Number(m[1]) : undefined;
}
