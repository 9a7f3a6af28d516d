/**
 * SHA-256 on AIX and Linux hosts, and parsers of what the tools print. Pure: no I/O, no Node built-ins.
 *
 * Stock AIX has no `sha256sum` and its `csum` knows only MD5 and SHA1; `openssl dgst -sha256` is there whenever
 * OpenSSH is (it depends on the OpenSSL fileset). Linux hosts use coreutils' `sha256sum`.
 */
import { isHostOs, MAX_BLOCK_SIZE, type HostOs } from '../schema/tape-rules';
import { assertName, command, group, parsePipeStatus, pipeWithStatus, ShellValueError } from './shell';

export type { HostOs };

export function assertOs(os: string): HostOs {
  if (!isHostOs(os)) throw new ShellValueError(`host OS must be "aix" or "linux", got ${JSON.stringify(os)}`);
  return os;
}

/** A command that prints the SHA-256 of its standard input. */
export function sha256Stdin(os: HostOs): string {
  return assertOs(os) === 'aix' ? 'openssl dgst -sha256' : 'sha256sum';
}

/** A command that prints the SHA-256 of a file. Parse with `parseSha256`. */
export function sha256File(os: HostOs, file: string): string {
  assertName(file, 'file');
  return assertOs(os) === 'aix' ? command(['openssl', 'dgst', '-sha256', file]) : command(['sha256sum', file]);
}

/**
 * The SHA-256 of a file followed by `padding` NUL bytes (what `dd conv=sync` puts on tape), computed on the host
 * without a temporary file. `padding` is below one block, so `dd bs=1` is cheap. The output ends with a
 * `pipeWithStatus` line for the reading side: parse with `parseSha256WithStatus`.
 */
export function sha256FilePadded(os: HostOs, file: string, padding: number): string {
  assertName(file, 'file');
  if (!Number.isSafeInteger(padding) || padding < 0 || padding > MAX_BLOCK_SIZE) {
    throw new ShellValueError(`padding must be an integer in 0..${MAX_BLOCK_SIZE}, got ${String(padding)}`);
  }
  const left =
    padding === 0
      ? command(['cat', file])
      : `${command(['cat', file])} && ${group(`dd if=/dev/zero bs=1 count=${padding} 2>/dev/null`)}`;
  return pipeWithStatus(left, sha256Stdin(os));
}

/**
 * Parses the digest from `openssl dgst -sha256` (`SHA256(f)= hex`, `SHA2-256(f)= hex`, `(stdin)= hex`,
 * `SHA2-256(stdin)= hex`) or `sha256sum` (`hex  file`, `hex *file`, `hex  -`). Ignores other lines (such as a
 * `pipeWithStatus` line). The last digest line counts: text a login prints comes before the command's own output,
 * and may look like a digest. Throws when no digest is found.
 */
export function parseSha256(output: string): string {
  let found: string | undefined;
  for (const raw of output.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const ossl = /^(?:[A-Za-z0-9-]*)\(.*\)\s*=\s*([0-9a-fA-F]{64})$/.exec(line);
    const sum = /^\\?([0-9a-fA-F]{64})(?: [ *].*)?$/.exec(line);
    const hex = ossl?.[1] ?? sum?.[1];
    if (hex) found = hex.toLowerCase();
  }
  if (found !== undefined) return found;
  throw new ShellValueError(`no SHA-256 digest in output: ${JSON.stringify(output.slice(0, 200))}`);
}

/**
 * Parses the output of a `pipeWithStatus(reader, sha256Stdin(os))` command: the digest and the reader's exit status.
 * `ok` is false when the reader failed (its data was incomplete, so the digest means nothing).
 */
export function parseSha256WithStatus(output: string): { ok: boolean; status: number | null; sha256: string | null } {
  const { status, rest } = parsePipeStatus(output);
  let sha256: string | null = null;
  try {
    sha256 = parseSha256(rest);
  } catch {
    sha256 = null;
  }
  return { ok: status === 0 && sha256 !== null, status, sha256 };
}
