/**
 * The probes `mksysb-tape inventory check` runs on a host before any backup: is a command on the login PATH, does the
 * work folder exist. Pure command text, like the rest of src/tape.
 */
import { command, quietErr } from './shell';

/** `command -v NAME 2>/dev/null`: prints where NAME is; nothing (and a non-zero status) when it is missing. */
export function commandPath(name: string): string {
  return quietErr(command(['command', '-v', name]));
}

/** `test -d DIR`: status 0 when the folder exists. */
export function folderExists(dir: string): string {
  return command(['test', '-d', dir]);
}
