/**
 * The commands on one backup run: `start`, `status`, `watch`, `retry`, `abort`, and `list` to find runs.
 */
import { Option, type Command } from 'commander';
import { validateBackupInput, workflowIdFor, type BackupStatus, type MksysbTapeClient } from '../backups';
import { formatList, formatResult, formatStatus } from '../format';
import { createProgressView, follow } from '../progress';
import { EXIT, intArg, type Cli } from './context';
import { addInputOptions, inputFromOptions, type InputOpts } from './options';
import { OUTCOMES } from '../../shared/contract';
import { STAGE_NAMES } from '../../shared/stages';

export function addRunCommands(program: Command, cli: Cli): void {
  addStartCommand(program, cli);
  addStatusCommand(program, cli);
  addWatchCommand(program, cli);
  addRetryCommand(program, cli);
  addAbortCommand(program, cli);
  addVolumeLoadedCommand(program, cli);
  addListCommand(program, cli);
}

/** `start`: validate, start (or with --attach join the open run) and with --wait follow it to its end. */
function addStartCommand(program: Command, cli: Cli): void {
  addInputOptions(program.command('start').description('start a backup'))
    .option('--workflow-id <id>', 'workflow ID (default mksysb-tape/<source>/<YYYY-MM-DD>)')
    .option('--attach', 'if that backup is already running, follow it instead of failing')
    .option('--note <text>', 'text shown in the run\'s details in the Web UI')
    .option('--wait', 'follow the run with live progress until it ends; exit 1 when it fails')
    .option('--bars', 'progress bars even when stdout is not a terminal')
    .option('--interval <ms>', 'progress poll interval with --wait', '500')
    .action(async (o: InputOpts & { workflowId?: string; attach?: boolean; note?: string; wait?: boolean; bars?: boolean; interval: string }) => {
      const input = inputFromOptions(o);
      validateBackupInput(input, workflowIdFor(input, { workflowId: o.workflowId })); // bad input: exit 2 before connecting
      const c = await cli.connect();
      const started = await c.start(input, { workflowId: o.workflowId, ifRunning: o.attach ? 'use-existing' : 'fail', note: o.note });
      const head = { workflowId: started.workflowId, runId: started.runId, started: started.started, input: started.resolved };
      if (!o.wait) {
        if (cli.json()) cli.printJson(head);
        else
          cli.print(
            `${started.started ? 'started' : 'already running:'} ${started.workflowId} (run ${started.runId})\n` +
              `  mksysb of ${started.resolved.source} to ${started.resolved.tape.host}:${started.resolved.tape.device}\n` +
              `  follow it with: mksysb-tape watch ${started.workflowId}`,
          );
        return;
      }
      if (!cli.json()) cli.print(`${started.started ? 'started' : 'following'} ${started.workflowId} (run ${started.runId})`);
      await followRun(cli, c, started.workflowId, started.runId, o, { started: started.started });
    });
}

/** `status`: where a run is, what it waits for, its result or why it failed; exit 1 for a run that failed. */
function addStatusCommand(program: Command, cli: Cli): void {
  program
    .command('status')
    .description('show where a backup is, what it waits for, its result or why it failed')
    .argument('<workflow-id>')
    .option('--run-id <id>', 'a specific run (default the latest)')
    .action(async (id: string, o: { runId?: string }) => {
      const s = await (await cli.connect()).status(id, o.runId);
      if (cli.json()) cli.printJson(statusJson(s));
      else cli.print(formatStatus(s));
      cli.code = ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'].includes(s.status) ? EXIT.runFailed : EXIT.ok;
    });
}

/** `watch`: follow a run with live progress until it ends. */
function addWatchCommand(program: Command, cli: Cli): void {
  program
    .command('watch')
    .description('follow a backup with live progress until it ends')
    .argument('<workflow-id>')
    .option('--bars', 'progress bars even when stdout is not a terminal')
    .option('--interval <ms>', 'poll interval', '500')
    .action(async (id: string, o: { bars?: boolean; interval: string }) => {
      await followRun(cli, await cli.connect(), id, undefined, o);
    });
}

/** `retry`: answer a run that waits for an operator (update, or --signal). */
function addRetryCommand(program: Command, cli: Cli): void {
  program
    .command('retry')
    .description('tell a run that waits for an operator to try again')
    .argument('<workflow-id>')
    .option('--from-record <n>', 'rewrite the tape from this record (1-4) onward; default the record that failed')
    .option('--from-volume <n>', 'a backup spanning cartridges: rewrite from this volume onward (its cartridge is asked for)')
    .option('--reason <text>', 'kept in the run\'s history')
    .option('--signal', 'send the `retry` signal instead of the update (no answer, accepted only while waiting)')
    .action(async (id: string, o: { fromRecord?: string; fromVolume?: string; reason?: string; signal?: boolean }) => {
      const fromRecord = intArg('--from-record', o.fromRecord, 1, 4);
      const fromVolume = intArg('--from-volume', o.fromVolume, 1, 99);
      const req = { ...(fromRecord ? { fromRecord } : {}), ...(fromVolume ? { fromVolume } : {}), ...(o.reason ? { reason: o.reason } : {}) };
      const answer = await (await cli.connect()).retry(id, req, { signal: o.signal });
      if (cli.json()) cli.printJson({ workflowId: id, request: 'retry', answer });
      else cli.print(`${id}: ${answer}`);
    });
}

/** `volume-loaded`: tell a run that waits for the next cartridge of a multi-volume set that it is in the drive. */
function addVolumeLoadedCommand(program: Command, cli: Cli): void {
  program
    .command('volume-loaded')
    .description('tell a run that waits for the next cartridge (a backup spanning cartridges) that it is loaded')
    .argument('<workflow-id>')
    .option('--volume <n>', 'the volume the loaded cartridge is for (refused when the run waits for another)')
    .option('--signal', 'send the `volumeLoaded` signal instead of the update (no answer)')
    .action(async (id: string, o: { volume?: string; signal?: boolean }) => {
      const volume = intArg('--volume', o.volume, 1, 99);
      const answer = await (await cli.connect()).volumeLoaded(id, volume ? { volume } : {}, { signal: o.signal });
      if (cli.json()) cli.printJson({ workflowId: id, request: 'volume-loaded', answer });
      else cli.print(`${id}: ${answer}`);
    });
}

/** `abort`: stop a run that waits for an operator. */
function addAbortCommand(program: Command, cli: Cli): void {
  program
    .command('abort')
    .description('stop a run that waits for an operator (it fails with outcome aborted; staged images are kept)')
    .argument('<workflow-id>')
    .option('--reason <text>', 'why, kept in the run\'s failure')
    .option('--signal', 'send the `abort` signal instead of the update')
    .action(async (id: string, o: { reason?: string; signal?: boolean }) => {
      const answer = await (await cli.connect()).abort(id, o.reason ? { reason: o.reason } : {}, { signal: o.signal });
      if (cli.json()) cli.printJson({ workflowId: id, request: 'abort', answer });
      else cli.print(`${id}: ${answer}`);
    });
}

/** `list`: runs by host, stage or outcome (search attributes), newest first. */
function addListCommand(program: Command, cli: Cli): void {
  program
    .command('list')
    .description('list backups, newest first, by host, stage or outcome (search attributes)')
    .option('--source <host>')
    .option('--tape-host <host>')
    .option('--tape-device <dev>')
    .option('--stage <stage>', STAGE_NAMES.join(', '))
    .addOption(new Option('--outcome <outcome>').choices(OUTCOMES))
    .option('--status <status>', 'Temporal status: Running, Completed, Failed, Terminated, ...')
    .option('--query <visibility-query>', 'extra visibility query, ANDed')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (o: { source?: string; tapeHost?: string; tapeDevice?: string; stage?: string; outcome?: string; status?: string; query?: string; limit: string }) => {
      const runs = await (await cli.connect()).list({ ...o, limit: intArg('--limit', o.limit, 1, 10_000) });
      if (cli.json()) cli.printJson(runs);
      else cli.print(formatList(runs));
    });
}

/** BackupStatus as JSON (dates as ISO strings). */
function statusJson(s: BackupStatus): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
}

/** Follows a run with live progress (bars or lines; none with --json) until it ends, then prints its end. */
async function followRun(
  cli: Cli,
  c: MksysbTapeClient,
  workflowId: string,
  runId: string | undefined,
  o: { bars?: boolean; interval: string },
  extra: Record<string, unknown> = {},
): Promise<void> {
  const view = cli.json() ? undefined : createProgressView(cli.io.stdout, o.bars ? { bars: true } : {});
  try {
    const s = await follow(c, workflowId, runId, view, intArg('--interval', o.interval, 50, 60_000));
    view?.stop();
    finish(cli, s, extra);
  } finally {
    view?.stop();
  }
}

/** Prints the end of a followed run and sets the exit code. */
function finish(cli: Cli, s: BackupStatus, extra: Record<string, unknown>): void {
  const ok = s.status === 'COMPLETED';
  if (cli.json()) cli.printJson({ ...extra, ...statusJson(s) });
  else if (ok && s.result) cli.print(`backup ${s.workflowId} succeeded\n${formatResult(s.result)}`);
  else cli.io.stderr.write(`backup ${s.workflowId} ${s.outcome === 'aborted' ? 'was aborted' : `ended ${s.status.toLowerCase()}`}: ${s.failure ?? 'no reason given'}\n`);
  cli.code = ok ? EXIT.ok : EXIT.runFailed;
}
