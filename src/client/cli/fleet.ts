/**
 * `fleet start|status|watch`: many backups on a few drives (the mksysbFleet workflow), through the fleet API.
 */
import type { Command } from 'commander';
import { fleetSummary } from '../fleet-schedule';
import type { FleetRunStatus } from '../fleets';
import { fleetProgressLines, formatFleetStatus } from '../format-fleet';
import { EXIT, intArg, type Cli } from './context';
import { addBackupFlags, addFleetOnlyOptions, fleetInputFromOptions, type FleetOpts } from './options';

export function addFleetCommands(program: Command, cli: Cli): void {
  const fleet = program.command('fleet').description('many backups on a few drives (the mksysbFleet workflow)');
  addFleetStart(fleet, cli);
  addFleetStatus(fleet, cli);
  addFleetWatch(fleet, cli);
}

/** `fleet start`: one backup per source on the given drives; with --wait a line per source that changes state. */
function addFleetStart(fleet: Command, cli: Cli): void {
  addBackupFlags(addFleetOnlyOptions(fleet.command('start').description('start a fleet: one backup per source, on the given drives')))
    .option('--workflow-id <id>', 'fleet run ID (default mksysb-fleet/<group or sources>/<YYYY-MM-DD>)')
    .option('--wait', 'follow the fleet until it ends; exit 1 when it fails or any source failed')
    .option('--interval <ms>', 'poll interval with --wait', '2000')
    .action(async (o: FleetOpts & { workflowId?: string; wait?: boolean; interval: string }) => {
      const input = fleetInputFromOptions(o);
      const interval = intArg('--interval', o.interval, 50, 600_000)!;
      const c = await cli.connect();
      const { workflowId, runId } = await c.fleets.start(input, { workflowId: o.workflowId, note: 'started with mksysb-tape fleet start' });
      const head = { workflowId, runId, input };
      if (!o.wait) {
        if (cli.json()) cli.printJson(head);
        else cli.print(`started fleet ${workflowId} (run ${runId}): ${fleetSummary(input)}\n  follow it with: mksysb-tape fleet watch ${workflowId}`);
        return;
      }
      if (!cli.json()) cli.print(`started fleet ${workflowId} (run ${runId}): ${fleetSummary(input)}`);
      const s = await c.fleets.follow(workflowId, { runId, intervalMs: interval, onChange: progressLines(cli) });
      fleetEnd(cli, s, { input });
    });
}

/** `fleet status`: the run and, per source, queued / running / ok / failed; exit 1 when it failed or any source did. */
function addFleetStatus(fleet: Command, cli: Cli): void {
  fleet
    .command('status')
    .description('show a fleet run: its status and, per source, queued / running (on which drive, doing what) / ok / failed')
    .argument('<workflow-id>')
    .option('--run-id <id>', 'a specific run (default the latest)')
    .action(async (id: string, o: { runId?: string }) => {
      const s = await (await cli.connect()).fleets.status(id, o.runId);
      if (cli.json()) cli.printJson(s);
      else cli.print(formatFleetStatus(s));
      cli.code = fleetExit(s);
    });
}

/** `fleet watch`: follow a fleet run (e.g. one a schedule started) until it ends. */
function addFleetWatch(fleet: Command, cli: Cli): void {
  fleet
    .command('watch')
    .description('follow a fleet run until it ends (e.g. one a schedule started); exit 1 when it fails or any source failed')
    .argument('<workflow-id>')
    .option('--interval <ms>', 'poll interval', '2000')
    .action(async (id: string, o: { interval: string }) => {
      const interval = intArg('--interval', o.interval, 50, 600_000)!;
      const s = await (await cli.connect()).fleets.follow(id, { intervalMs: interval, onChange: progressLines(cli) });
      fleetEnd(cli, s);
    });
}

/** A line per source that changed state while a fleet is followed; nothing with --json (it prints the end only). */
const progressLines = (cli: Cli) => (cli.json() ? undefined : (now: FleetRunStatus, prev?: FleetRunStatus) => cli.print(fleetProgressLines(now, prev)));

/** Exit code of a fleet run: 0 when it completed with every source ok (or still runs), else 1. */
const fleetExit = (s: FleetRunStatus): number =>
  s.status === 'RUNNING' || (s.status === 'COMPLETED' && s.result?.failed === 0) ? EXIT.ok : EXIT.runFailed;

/** Prints the end of a followed fleet and sets the exit code (1 when the fleet failed or any source failed). */
function fleetEnd(cli: Cli, s: FleetRunStatus, extra: Record<string, unknown> = {}): void {
  if (cli.json()) cli.printJson({ ...s, ...extra });
  else if (s.status === 'COMPLETED') cli.print(formatFleetStatus(s));
  else cli.io.stderr.write(`fleet ${s.workflowId} ended ${s.status.toLowerCase()}: ${s.failure ?? 'no reason given'}\n`);
  cli.code = fleetExit(s);
}
