/**
 * Command builders for moving a staged image from the source host to the tape host through the worker, resumable
 * at a byte offset. Pure: no I/O, no Node built-ins. Only AIX-safe tools: `tail -c +N` (GNU's `dd iflag=` and
 * `skip_bytes` do not exist on AIX), `dd seek=` with `if=/dev/null` to cut the receiving file, `cat >>`.
 */
import { sha256Stdin, type HostOs } from './digest';
import { assertAbsolutePath, assertInt, pipeWithStatus, quote } from './shell';

/** Exit status of `writeFrom` when the receiving file is shorter than the offset (nothing is written). */
export const SHORT_FILE_STATUS = 3;

/**
 * Streams FILE from byte `offset` (0 = the whole file) to standard output.
 * `tail -c +N` counts from 1, so N = offset + 1.
 */
export function readFrom(file: string, offset: number): string {
  assertAbsolutePath(file, 'file');
  assertInt(offset, 'offset', 0);
  return offset === 0 ? `cat ${quote(file)}` : `tail -c +${offset + 1} ${quote(file)}`;
}

/**
 * Receives standard input into FILE starting at byte `offset`: cuts FILE to `offset` bytes, then appends. The file
 * must already hold at least `offset` bytes (exit status 3 and a message otherwise: resume from a smaller offset);
 * offset 0 creates or empties it. The folder must exist.
 */
export function writeFrom(file: string, offset: number): string {
  assertAbsolutePath(file, 'file');
  assertInt(offset, 'offset', 0);
  const f = quote(file);
  if (offset === 0) return `cat > ${f}`;
  return (
    `have=$(wc -c 2>/dev/null < ${f} || echo 0); ` +
    // awk compares in floating point (exact to 2^53): a 32-bit shell's test(1) would overflow past 2 GiB.
    `if awk -v h="$have" 'BEGIN { exit !(h + 0 < ${offset}) }'; then echo "receiving file has $have bytes, fewer than the offset ${offset}" >&2; exit ${SHORT_FILE_STATUS}; fi; ` +
    `dd if=/dev/null of=${f} bs=1 seek=${offset} 2>/dev/null && cat >> ${f}`
  );
}

/**
 * Receives standard input into FILE (created or emptied) and prints the SHA-256 of the bytes as they are written
 * (`tee FILE | openssl dgst -sha256`), so the tape host checks what it received without reading the file again.
 * The output ends with `tee`'s exit status (`pipeWithStatus`): parse with `digest.parseSha256WithStatus`; a status
 * other than 0 means the file is incomplete whatever the digest says.
 */
export function writeHashing(os: HostOs, file: string): string {
  assertAbsolutePath(file, 'file');
  return pipeWithStatus(`tee ${quote(file)}`, sha256Stdin(os));
}
