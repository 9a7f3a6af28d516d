/** What each record puts on tape, for capacity checks and verification. Pure. */
import { paddedLength, TAPE_BLOCK_SIZE, type RecordNumber } from './layout';

/**
 * Bytes that land on tape for record k from a staged file of `stagedBytes`: records 1 and 3 are padded to 512
 * (`conv=sync`); record 4 is padded to its block size when that is above 512 (a fixed-block drive refuses a short
 * last write, and the padding after the archive's end marker is ignored by restore); record 2 and a 512-byte record 4
 * are whole 512-byte blocks already, as AIX `backup` writes them.
 */
export function recordTapeBytes(k: RecordNumber, stagedBytes: number, blockSize: number): number {
  if (k === 3) return TAPE_BLOCK_SIZE;
  if (k === 1 || (k === 4 && blockSize > TAPE_BLOCK_SIZE)) return paddedLength(stagedBytes, blockSize);
  return stagedBytes;
}

/** A filemark costs a little tape; counted as one 512-byte block each, three of them after records 1..3, two at the end. */
export const FILEMARK_ALLOWANCE = 5 * TAPE_BLOCK_SIZE;
