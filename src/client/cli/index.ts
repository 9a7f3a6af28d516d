/**
 * `mksysb-tape`: the command-line tool on the client API (src/client/backups, src/client/fleets.ts).
 *
 *   mksysb-tape start --source aix01 --tape tapesrv:rmt0 --wait
 *   mksysb-tape status|watch ID
 *   mksysb-tape retry ID [--from-record N | --from-volume N]      mksysb-tape abort ID [--reason TEXT]
 *   mksysb-tape volume-loaded ID [--volume N]
 *   mksysb-tape list [--source aix01] [--outcome failed]
 *   mksysb-tape schedule create|list|pause|unpause|update|trigger|delete
 *   mksysb-tape schedule create --fleet --group nightly --drives tapesrv:rmt0,tapesrv:rmt1 --cron "0 1 * * *"
 *   mksysb-tape fleet start (--group G | --sources a,b) --drives tapesrv:rmt0,tapesrv:rmt1 [--wait]
 *   mksysb-tape fleet status|watch ID
 *   mksysb-tape inventory check
 *   mksysb-tape inventory trust HOST [--yes]
 *
 * Human output by default, `--json` for scripts. Exit codes: 0 ok, 1 the run failed, was aborted or was cancelled, 2 bad usage or
 * input (or a refused request, such as a start the namespace's missing search attributes refuse), 3 Temporal cannot be reached, 4 the inventory check found problems.
 * Connection settings come from temporal.config.ts (envconfig: TEMPORAL_ADDRESS, TEMPORAL_PROFILE, ...).
 */
import { Command, CommanderError } from 'commander';
import { InputValidationError } from '../../schema';
import {
  BackupAlreadyStartedError,
  BackupNotFoundError,
  FleetError,
  OperatorRequestRejectedError,
  ScheduleError,
  SearchAttributesMissingError,
  TemporalUnreachableError,
} from '../errors';
import { Cli, CliExit, EXIT, type Io } from './context';
import { addFleetCommands } from './fleet';
import { addInventoryCommands } from './inventory';
import { addRunCommands } from './runs';
import { addScheduleCommands } from './schedule';

export { EXIT } from './context';
export { fleetInputFromOptions, inputFromOptions } from './options';

/** The command groups, in the order `--help` lists them. */
const COMMANDS: Array<(program: Command, cli: Cli) => void> = [addRunCommands, addScheduleCommands, addFleetCommands, addInventoryCommands];

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const program = globalOptions(new Command('mksysb-tape'), io);
  const cli = new Cli(program, io);
  for (const add of COMMANDS) add(program, cli);
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    return cli.code;
  } catch (err) {
    return reportError(cli, err);
  } finally {
    await cli.close();
  }
}

/** The options every command takes, and commander's output and errors routed through `io`. */
function globalOptions(program: Command, io: Io): Command {
  return program
    .description('Bootable AIX mksysb backups to a remote tape drive, run as Temporal workflows')
    .option('--json', 'machine-readable output (one JSON document on stdout)')
    .option('--address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS / profile / localhost:7233)')
    .option('--namespace <ns>', 'Temporal namespace (default: TEMPORAL_NAMESPACE / profile / default)')
    .option('--task-queue <q>', 'task queue of the workers (default: MKSYSB_TAPE_TASK_QUEUE / mksysb-tape)')
    .option('--inventory <file>', 'host inventory for `inventory check` (default: MKSYSB_TAPE_INVENTORY / ./inventory.json)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
}

/** Prints why a command failed (commander prints its own) and returns the exit code. */
function reportError(cli: Cli, err: unknown): number {
  const [exit, message] = classify(err);
  if (exit === EXIT.ok) return EXIT.ok;
  if (!(err instanceof CommanderError)) {
    cli.io.stderr.write(`mksysb-tape: ${message}\n`);
    // A fleet's refusals were the CLI's own usage errors before the fleet API had them: scripts may match the type.
    const type = err instanceof FleetError ? 'UsageError' : ((err as Error).name ?? 'Error');
    if (cli.json()) cli.printJson({ error: { type, message }, exitCode: exit });
  }
  return exit;
}

function classify(err: unknown): [number, string] {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return [EXIT.ok, ''];
    return [EXIT.usage, err.message];
  }
  if (err instanceof CliExit) return [err.code, err.message];
  if (err instanceof InputValidationError) return [EXIT.usage, `${err.message}\nNothing was started. Fix the input and run the command again.`];
  if (err instanceof TemporalUnreachableError) return [EXIT.unreachable, err.message];
  if (
    err instanceof BackupAlreadyStartedError ||
    err instanceof BackupNotFoundError ||
    err instanceof OperatorRequestRejectedError ||
    err instanceof ScheduleError ||
    err instanceof FleetError ||
    err instanceof SearchAttributesMissingError
  ) {
    return [EXIT.usage, err.message];
  }
  return [EXIT.runFailed, err instanceof Error ? err.message : String(err)];
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
