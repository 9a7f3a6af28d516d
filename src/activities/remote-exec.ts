/** How activities run a command over SSH: killed with everything it started when its channel closes early. */
import type { ExecOptions, ExecResult, SshHost } from '../ssh';
import { shell } from '../tape';

/**
 * Runs `cmd` so that it dies, with everything it started, when its channel closes early (a cancelled activity, a
 * lost connection, a crashed worker): OpenSSH delivers no SSH signals to root's sessions, and a tape read that ran
 * on would hold the drive.
 */
export function execKilledOnHangup(host: SshHost, cmd: string, opts: ExecOptions): Promise<ExecResult> {
  return host.exec(shell.killOnHangup(cmd), { ...opts, lifeline: true });
}

/**
 * Runs a command that is safe to run twice (every command of `run` and the polls of detached commands are: queries,
 * chdev/tctl positioning, read-backs, removals), trying again up to twice when the connection was lost before the
 * command reported its exit status (a network drop, an sshd restart), so a blip costs no activity attempt. An exit
 * status that reached the worker is never lost (src/ssh records it as ssh2 parses it); a loss that persists still
 * fails the attempt.
 */
export function execIdempotent(host: SshHost, cmd: string, opts: ExecOptions): Promise<ExecResult> {
  return execKilledOnHangup(host, cmd, { ...opts, retryIfLost: 2 });
}
