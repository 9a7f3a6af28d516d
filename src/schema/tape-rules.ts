/**
 * The rules of AIX and Linux tape hosts that both the input checks (src/schema) and the command builders (src/tape)
 * apply, each defined once: host OSes, tape device names, block sizes, mksysb flags.
 *
 * They live here rather than in src/tape because src/schema runs in the workflow sandbox and may import only zod and
 * its own files (test/unit/schema-sandbox.test.ts). This file imports nothing, so src/tape takes it without zod.
 */

/** The operating systems a host of the inventory runs. */
export const HOST_OSES = ['aix', 'linux'] as const;
export type HostOs = (typeof HOST_OSES)[number];

export function isHostOs(v: string): v is HostOs {
  return (HOST_OSES as readonly string[]).includes(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Tape device names (AIX-TAPE.md, "AIX tape devices")

/**
 * The bare names of tape drive N per OS: `rmtN` on AIX; on Linux `nstN` (no-rewind) and `stN` (rewinding), two names
 * of the same drive. The Linux driver takes either and always writes through /dev/nstN.
 */
export const DRIVE_NAMES: Readonly<Record<HostOs, RegExp>> = { aix: /^rmt\d{1,3}$/, linux: /^n?st\d{1,3}$/ };

/** Linux's rewinding name `stN`: refused as a name to give (see `deviceOs`), whatever the driver makes of it. */
export function isRewindingLinuxName(name: string): boolean {
  return DRIVE_NAMES.linux.test(name) && name.startsWith('st');
}

/**
 * The OS a tape device name given in the input or the inventory belongs to: `rmtN` is AIX, `nstN` is Linux. Undefined
 * for anything else, `stN` included: it rewinds on close, so the four records could not follow one another.
 */
export function deviceOs(name: string): HostOs | undefined {
  if (DRIVE_NAMES.aix.test(name)) return 'aix';
  if (DRIVE_NAMES.linux.test(name) && !isRewindingLinuxName(name)) return 'linux';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Block sizes

/** The block size of records 1 to 3, and the default of record 4. */
export const TAPE_BLOCK_SIZE = 512;

/**
 * Largest block size record 4 may be written with: 1 MiB, what the input accepts. AIX tape drivers take up to 16 MiB,
 * but most drives far less, and no block size above this one reaches the tape.
 */
export const MAX_BLOCK_SIZE = 1024 * 1024;

// ---------------------------------------------------------------------------------------------------------------
// mksysb

/** mksysb flags the input may ask for, in the order they are passed to mksysb. */
export const MKSYSB_FLAGS = ['-e', '-i', '-m', '-p', '-X'] as const;
export type MksysbFlag = (typeof MKSYSB_FLAGS)[number];

export function isMksysbFlag(f: string): f is MksysbFlag {
  return (MKSYSB_FLAGS as readonly string[]).includes(f);
}

/** Sorted, without repeats, `-i` always present (mksysb needs image.data for a bootable tape). */
export function normaliseMksysbFlags(flags: readonly MksysbFlag[]): MksysbFlag[] {
  return MKSYSB_FLAGS.filter((f) => f === '-i' || flags.includes(f));
}
