/** Processes of the test machine as the tests look at them. */
import { readFileSync } from 'node:fs';

/** Whether a process runs: it exists and is not a zombie (one that has exited but is not reaped yet holds nothing). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}
