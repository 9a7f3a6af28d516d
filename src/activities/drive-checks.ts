/**
 * Small questions the tape activities ask of a drive and its host: is a cartridge loaded, and did a write stop at the
 * end of the medium. Shared by the record writes (tape.ts) and the volumes of a multi-volume set (volumes.ts).
 */
import type { ExecResult } from '../ssh';
import { driverFor, drivers, volumes } from '../tape';
import { ANY_FAILURE } from './failures';
import type { ActivityHosts } from './hosts';
import type { RunPlan } from './types';

/** Runs a command on the tape host: a fenced drive's `run`, or the host's own. */
export type TapeHostRun = (what: string, cmd: string, opts: { allowExit?: readonly number[] }) => Promise<ExecResult>;

/** `tctl status` / `mt status` of the backup's drive, read as loaded or not; `text` is what the command printed. */
export async function cartridgeStatus(run: TapeHostRun, plan: RunPlan): Promise<{ loaded: boolean; detail: string; text: string }> {
  const { backup, tapeOs } = plan;
  const st = await run(`status of ${backup.tape.host}:${backup.tape.device}`, driverFor(tapeOs).status(backup.tape.device), { allowExit: ANY_FAILURE });
  const text = st.stdout + st.stderr;
  return { ...drivers.parseStatus(tapeOs, st.code, text), text };
}

/** Whether the detached write that left `eomFile` (volumes.endOfMediumIsResult) stopped at the end of the medium. */
export async function reachedEnd(hosts: ActivityHosts, plan: RunPlan, eomFile: string): Promise<boolean> {
  const res = await hosts.run(plan.backup.tape.host, 'did the write reach the end of the medium', volumes.reachedEnd(eomFile));
  return volumes.parseReachedEnd(res.stdout);
}
