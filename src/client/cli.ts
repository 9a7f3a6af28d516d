/**
 * `mksysb-tape`: the command-line tool on the client API (src/client/backups.ts).
 *
 *   mksysb-tape start --source aix01 --tape tapesrv:rmt0 --wait
 *   mksysb-tape status|watch ID
 *   mksysb-tape retry ID [--from-record N]      mksysb-tape abort ID [--reason TEXT]
 *   mksysb-tape list [--source aix01] [--outcome failed]
 *   mksysb-tape schedule create|list|pause|unpause|update|trigger|delete
 *   mksysb-tape inventory check
 *   mksysb-tape inventory trust HOST [--yes]
 *
 * Human output by default, `--json` for scripts. Exit codes: 0 ok, 1 the run failed or was aborted, 2 bad usage or
 * input (or a refused request), 3 Temporal cannot be reached, 4 the inventory check found problems.
 * Connection settings come from temporal.config.ts (envconfig: TEMPORAL_ADDRESS, TEMPORAL_PROFILE, ...).
 */
import * as fs from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Command, CommanderError, Option } from 'commander';
import { loadConfig, type MksysbTapeConfig } from '../../temporal.config';
import { InputValidationError, MKSYSB_FLAGS, VERIFY_LEVELS } from '../schema';
import type { BackupInput } from '../shared/contract';
import { MksysbTapeClient, OVERLAP_POLICIES, validateBackupInput, workflowIdFor, type BackupStatus, type OverlapPolicy } from './backups';
import {
  BackupAlreadyStartedError,
  BackupNotFoundError,
  OperatorRequestRejectedError,
  ScheduleError,
  TemporalUnreachableError,
} from './errors';
import { formatInventoryReport, formatList, formatResult, formatSchedules, formatStatus } from './format';
import { checkInventory } from './inventory-check';
import { fetchHostKey, formatSeenHostKey, recordHostKey } from './inventory-trust';
import { createProgressView, follow } from './progress';

export const EXIT = { ok: 0, runFailed: 1, usage: 2, unreachable: 3, inventory: 4 } as const;

class CliExit extends Error {
  override readonly name = 'UsageError';
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

interface GlobalOpts {
  json?: boolean;
  address?: string;
  namespace?: string;
  taskQueue?: string;
  inventory?: string;
}

interface InputOpts {
  input?: string;
  source?: string;
  tape?: string;
  backupId?: string;
  mksysbFlags?: string;
  record4BlockSize?: string;
  verify?: string;
  overwrite?: boolean;
  keepStaging?: boolean;
  maxAttempts?: string;
  waitHours?: string;
  bootDevice?: string;
}

const numberish = (v: string): number | string => (/^\d+(\.\d+)?$/.test(v) ? Number(v) : v);

/** The workflow input from `--input` (JSON, or @file) overlaid with the individual flags. */
export function inputFromOptions(o: InputOpts): BackupInput {
  let base: Record<string, unknown> = {};
  if (o.input !== undefined) {
    const text = o.input.startsWith('@') ? readInputFile(o.input.slice(1)) : o.input;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new CliExit(EXIT.usage, `--input is not valid JSON (${(err as Error).message}); give one object such as '{"source":"aix01","tape":{"host":"tapesrv","device":"rmt0"}}'`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new CliExit(EXIT.usage, '--input must be one JSON object such as {"source":"aix01","tape":{"host":"tapesrv","device":"rmt0"}}');
    }
    base = { ...(parsed as Record<string, unknown>) };
  }
  if (o.source !== undefined) base.source = o.source;
  if (o.tape !== undefined) {
    const i = o.tape.lastIndexOf(':');
    if (i <= 0 || i === o.tape.length - 1) {
      throw new CliExit(EXIT.usage, `--tape must be HOST:DEVICE such as tapesrv:rmt0 (got "${o.tape}")`);
    }
    base.tape = { host: o.tape.slice(0, i), device: o.tape.slice(i + 1) };
  }
  if (o.backupId !== undefined) base.backupId = o.backupId;
  if (o.mksysbFlags !== undefined) {
    base.mksysbFlags = o.mksysbFlags
      .split(/[,\s]+/)
      .filter(Boolean)
      .map((f) => (f.startsWith('-') ? f : `-${f}`));
  }
  if (o.record4BlockSize !== undefined) base.record4BlockSize = numberish(o.record4BlockSize);
  if (o.verify !== undefined) base.verify = o.verify;
  if (o.overwrite) base.overwrite = true;
  if (o.keepStaging) base.keepStaging = true;
  if (o.bootDevice !== undefined) base.bootDevice = o.bootDevice;
  if (o.waitHours !== undefined) base.operatorWaitHours = numberish(o.waitHours);
  if (o.maxAttempts !== undefined) base.retry = { ...((base.retry as object) ?? {}), maxAttempts: numberish(o.maxAttempts) };
  if (base.source === undefined && base.tape === undefined) {
    throw new CliExit(EXIT.usage, 'say what to back up: --source HOST --tape HOST:DEVICE (inventory names), or --input JSON');
  }
  return base as BackupInput;
}

function readInputFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliExit(EXIT.usage, `cannot read --input file ${file}: ${(err as Error).message}`);
  }
}

function addInputOptions(cmd: Command): Command {
  return cmd
    .option('--source <host>', 'inventory name of the AIX host to back up, e.g. aix01')
    .option('--tape <host:device>', 'tape host and device, e.g. tapesrv:rmt0')
    .option('--backup-id <id>', 'names the staging files (default: from the workflow ID)')
    .option('--mksysb-flags <flags>', `mksysb flags, comma-separated, from ${MKSYSB_FLAGS.join(' ')} (default -i,-p); write --mksysb-flags=-e,-i,-p`)
    .option('--record4-block-size <bytes>', 'block size of record 4, a multiple of 512 (default 512)')
    .addOption(new Option('--verify <level>', 'verification after writing (default full)').choices([...VERIFY_LEVELS]))
    .option('--overwrite', 'allow writing over a cartridge that holds data')
    .option('--keep-staging', 'keep the staged images after a verified tape')
    .option('--max-attempts <n>', 'attempts of each step before waiting for an operator (default 3)')
    .option('--wait-hours <h>', 'how long a run waits for retry/abort after a step used its attempts (default 24)')
    .option('--boot-device <dev>', 'device given to bosboot -ad (default /dev/rmt0)')
    .option('--input <json>', 'the whole input as one JSON object (or @file.json); the flags above override its fields');
}

function intArg(name: string, v: string | undefined, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new CliExit(EXIT.usage, `${name} must be a whole number from ${min} to ${max} (got "${v}")`);
  return Number(v);
}

export async function main(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const program = new Command('mksysb-tape');
  let code: number = EXIT.ok;
  const g = (): GlobalOpts => program.opts<GlobalOpts>();
  const json = () => !!g().json;
  const print = (text: string) => io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  const printJson = (v: unknown) => io.stdout.write(`${JSON.stringify(v, null, 2)}\n`);

  const config = (): MksysbTapeConfig => {
    const o = g();
    const env = { ...io.env };
    if (o.address) env.TEMPORAL_ADDRESS = o.address;
    if (o.namespace) env.TEMPORAL_NAMESPACE = o.namespace;
    if (o.taskQueue) env.MKSYSB_TAPE_TASK_QUEUE = o.taskQueue;
    if (o.inventory) env.MKSYSB_TAPE_INVENTORY = o.inventory;
    try {
      return loadConfig(env);
    } catch (err) {
      throw new CliExit(EXIT.usage, `configuration: ${(err as Error).message}`);
    }
  };
  let api: MksysbTapeClient | undefined;
  const connect = async (): Promise<MksysbTapeClient> => (api ??= await MksysbTapeClient.connect({ config: config() }));

  /** Prints the end of a followed run and sets the exit code. */
  const finish = (s: BackupStatus, extra: Record<string, unknown> = {}) => {
    const ok = s.status === 'COMPLETED';
    if (json()) printJson({ ...extra, ...statusJson(s) });
    else if (ok && s.result) print(`backup ${s.workflowId} succeeded\n${formatResult(s.result)}`);
    else io.stderr.write(`backup ${s.workflowId} ${s.outcome === 'aborted' ? 'was aborted' : `ended ${s.status.toLowerCase()}`}: ${s.failure ?? 'no reason given'}\n`);
    code = ok ? EXIT.ok : EXIT.runFailed;
  };

  program
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
      const c = await connect();
      const started = await c.start(input, { workflowId: o.workflowId, ifRunning: o.attach ? 'use-existing' : 'fail', note: o.note });
      const head = { workflowId: started.workflowId, runId: started.runId, started: started.started, input: started.resolved };
      if (!o.wait) {
        if (json()) printJson(head);
        else
          print(
            `${started.started ? 'started' : 'already running:'} ${started.workflowId} (run ${started.runId})\n` +
              `  mksysb of ${started.resolved.source} to ${started.resolved.tape.host}:${started.resolved.tape.device}\n` +
              `  follow it with: mksysb-tape watch ${started.workflowId}`,
          );
        return;
      }
      if (!json()) print(`${started.started ? 'started' : 'following'} ${started.workflowId} (run ${started.runId})`);
      const view = json() ? undefined : createProgressView(io.stdout, o.bars ? { bars: true } : {});
      try {
        const s = await follow(c, started.workflowId, started.runId, view, intArg('--interval', o.interval, 50, 60_000));
        view?.stop();
        finish(s, { started: started.started });
      } finally {
        view?.stop();
      }
    });

  program
    .command('status')
    .description('show where a backup is, what it waits for, its result or why it failed')
    .argument('<workflow-id>')
    .option('--run-id <id>', 'a specific run (default the latest)')
    .action(async (id: string, o: { runId?: string }) => {
      const s = await (await connect()).status(id, o.runId);
      if (json()) printJson(statusJson(s));
      else print(formatStatus(s));
      code = ['FAILED', 'TERMINATED', 'CANCELLED', 'TIMED_OUT'].includes(s.status) ? EXIT.runFailed : EXIT.ok;
    });

  program
    .command('watch')
    .description('follow a backup with live progress until it ends')
    .argument('<workflow-id>')
    .option('--bars', 'progress bars even when stdout is not a terminal')
    .option('--interval <ms>', 'poll interval', '500')
    .action(async (id: string, o: { bars?: boolean; interval: string }) => {
      const c = await connect();
      const view = json() ? undefined : createProgressView(io.stdout, o.bars ? { bars: true } : {});
      try {
        const s = await follow(c, id, undefined, view, intArg('--interval', o.interval, 50, 60_000));
        view?.stop();
        finish(s);
      } finally {
        view?.stop();
      }
    });

  program
    .command('retry')
    .description('tell a run that waits for an operator to try again')
    .argument('<workflow-id>')
    .option('--from-record <n>', 'rewrite the tape from this record (1-4) onward; default the record that failed')
    .option('--reason <text>', 'kept in the run\'s history')
    .option('--signal', 'send the `retry` signal instead of the update (no answer, accepted only while waiting)')
    .action(async (id: string, o: { fromRecord?: string; reason?: string; signal?: boolean }) => {
      const fromRecord = intArg('--from-record', o.fromRecord, 1, 4);
      const answer = await (await connect()).retry(id, { ...(fromRecord ? { fromRecord } : {}), ...(o.reason ? { reason: o.reason } : {}) }, { signal: o.signal });
      if (json()) printJson({ workflowId: id, request: 'retry', answer });
      else print(`${id}: ${answer}`);
    });

  program
    .command('abort')
    .description('stop a run that waits for an operator (it fails with outcome aborted; staged images are kept)')
    .argument('<workflow-id>')
    .option('--reason <text>', 'why, kept in the run\'s failure')
    .option('--signal', 'send the `abort` signal instead of the update')
    .action(async (id: string, o: { reason?: string; signal?: boolean }) => {
      const answer = await (await connect()).abort(id, o.reason ? { reason: o.reason } : {}, { signal: o.signal });
      if (json()) printJson({ workflowId: id, request: 'abort', answer });
      else print(`${id}: ${answer}`);
    });

  program
    .command('list')
    .description('list backups, newest first, by host, stage or outcome (search attributes)')
    .option('--source <host>')
    .option('--tape-host <host>')
    .option('--tape-device <dev>')
    .option('--stage <stage>', 'validating, images, transfer, tape-prepare, tape-write, verify, cleanup, done')
    .addOption(new Option('--outcome <outcome>').choices(['running', 'waiting', 'succeeded', 'failed', 'aborted']))
    .option('--status <status>', 'Temporal status: Running, Completed, Failed, Terminated, ...')
    .option('--query <visibility-query>', 'extra visibility query, ANDed')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (o: { source?: string; tapeHost?: string; tapeDevice?: string; stage?: string; outcome?: string; status?: string; query?: string; limit: string }) => {
      const runs = await (await connect()).list({ ...o, limit: intArg('--limit', o.limit, 1, 10_000) });
      if (json()) printJson(runs);
      else print(formatList(runs));
    });

  const schedule = program.command('schedule').description('nightly backups as Temporal Schedules');
  addInputOptions(schedule.command('create').description('create a schedule that starts a backup on a cron spec'))
    .requiredOption('--cron <expr>', 'cron expression, e.g. "0 2 * * *" for 02:00 daily')
    .option('--time-zone <tz>', 'IANA time zone of the cron expression, e.g. Europe/Berlin (default UTC)')
    .option('--id <schedule-id>', 'default mksysb-tape/<source>/nightly')
    .addOption(new Option('--overlap <policy>', 'when the previous backup still runs').choices(OVERLAP_POLICIES).default('skip'))
    .option('--catchup-window <duration>', 'how late a missed run may still start, e.g. 1h', '1h')
    .option('--pause-on-failure', 'pause the schedule after a failed backup')
    .option('--paused', 'create it paused')
    .option('--note <text>')
    .action(async (o: InputOpts & { cron: string; timeZone?: string; id?: string; overlap: OverlapPolicy; catchupWindow: string; pauseOnFailure?: boolean; paused?: boolean; note?: string }) => {
      const input = inputFromOptions(o);
      const info = await (await connect()).createSchedule({
        input,
        cron: o.cron,
        timeZone: o.timeZone,
        scheduleId: o.id,
        overlap: o.overlap,
        catchupWindow: o.catchupWindow as `${number}h`,
        pauseOnFailure: o.pauseOnFailure,
        paused: o.paused,
        note: o.note,
      });
      if (json()) printJson(info);
      else print(`created schedule ${info.scheduleId}${info.paused ? ' (paused)' : ''}; next runs: ${info.nextActionTimes.map((d) => d.toISOString()).join(', ') || '-'}`);
    });
  schedule
    .command('list')
    .description('list the schedules that start backups')
    .action(async () => {
      const list = await (await connect()).listSchedules();
      if (json()) printJson(list);
      else print(formatSchedules(list));
    });
  for (const [name, what] of [
    ['pause', 'pause a schedule'],
    ['unpause', 'unpause a schedule'],
    ['trigger', 'start the scheduled backup now'],
    ['delete', 'delete a schedule (runs it started are kept)'],
  ] as const) {
    schedule
      .command(name)
      .description(what)
      .argument('<schedule-id>')
      .option('--note <text>', 'pause/unpause note')
      .action(async (id: string, o: { note?: string }) => {
        const c = await connect();
        if (name === 'pause') await c.pauseSchedule(id, o.note);
        else if (name === 'unpause') await c.unpauseSchedule(id, o.note);
        else if (name === 'trigger') await c.triggerSchedule(id);
        else await c.deleteSchedule(id);
        const past = { pause: 'paused', unpause: 'unpaused', trigger: 'triggered', delete: 'deleted' }[name];
        if (json()) printJson({ scheduleId: id, [past]: true });
        else print(`${past} schedule ${id}`);
      });
  }
  addInputOptions(schedule.command('update').description('change a schedule\'s timing and/or its backup input').argument('<schedule-id>'))
    .option('--cron <expr>')
    .option('--time-zone <tz>')
    .addOption(new Option('--overlap <policy>').choices(OVERLAP_POLICIES))
    .option('--catchup-window <duration>')
    .action(async (id: string, o: InputOpts & { cron?: string; timeZone?: string; overlap?: OverlapPolicy; catchupWindow?: string }) => {
      const hasInput = o.input !== undefined || o.source !== undefined || o.tape !== undefined;
      const info = await (await connect()).updateSchedule(id, {
        ...(o.cron ? { cron: o.cron } : {}),
        ...(o.timeZone ? { timeZone: o.timeZone } : {}),
        ...(o.overlap ? { overlap: o.overlap } : {}),
        ...(o.catchupWindow ? { catchupWindow: o.catchupWindow as `${number}h` } : {}),
        ...(hasInput ? { input: inputFromOptions(o) } : {}),
      });
      if (json()) printJson(info);
      else print(`updated schedule ${id}\n${formatSchedules([info])}`);
    });

  const inventory = program.command('inventory').description('the host inventory');
  inventory
    .command('trust')
    .description("show the host key HOST presents now and pin it in the inventory (only with --yes or after you confirm)")
    .argument('<host>', 'inventory name of the host')
    .option('--yes', 'record the key without asking (check the fingerprint first)')
    .action(async (host: string, o: { yes?: boolean }) => {
      const cfg = config();
      const seen = await fetchHostKey(cfg.inventoryPath, host).catch((err: unknown) => {
        throw new CliExit(EXIT.usage, (err as Error).message);
      });
      if (!json()) print(formatSeenHostKey(seen));
      let yes = !!o.yes || seen.matchesPinned;
      if (!yes && !json() && process.stdin.isTTY) {
        const rl = createInterface({ input: process.stdin, output: io.stdout });
        const answer = await rl.question(`record this key for ${host} in ${cfg.inventoryPath}? [y/N] `);
        rl.close();
        yes = /^y(es)?$/i.test(answer.trim());
      }
      const recorded = yes && !seen.matchesPinned ? await recordHostKey(cfg.inventoryPath, host, seen.hostKey) : undefined;
      if (json()) printJson({ ...seen, recorded: !!recorded, inventoryProblems: recorded?.inventoryProblems ?? null });
      else if (seen.matchesPinned) print('nothing to change');
      else if (recorded) {
        print(`recorded ${seen.fingerprint} as the host key of ${host} in ${cfg.inventoryPath}`);
        if (recorded.inventoryProblems) print(`the inventory still has problems: ${recorded.inventoryProblems}`);
      } else print(`not recorded; check the fingerprint on the host's console, then run: mksysb-tape inventory trust ${host} --yes`);
      code = yes ? EXIT.ok : EXIT.usage;
    });
  inventory
    .command('check')
    .description('connect to every host: host key, commands each role needs, work folder free space (run it where the worker runs)')
    .option('--host <name...>', 'only these hosts')
    .option('--min-free <MiB>', 'a work folder with less free space is a problem', '1024')
    .action(async (o: { host?: string[]; minFree: string }) => {
      const cfg = config();
      const min = intArg('--min-free', o.minFree, 0, Number.MAX_SAFE_INTEGER)!;
      const report = await checkInventory(cfg.inventoryPath, { hosts: o.host, minFreeBytes: min * 1024 * 1024 });
      if (json()) printJson(report);
      else print(formatInventoryReport(report));
      code = report.ok ? EXIT.ok : EXIT.inventory;
    });

  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT.usage;
    }
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    const [exit, message] = classify(err);
    if (exit === EXIT.ok) return EXIT.ok;
    if (!(err instanceof CommanderError)) {
      io.stderr.write(`mksysb-tape: ${message}\n`);
      if (json()) printJson({ error: { type: (err as Error).name ?? 'Error', message }, exitCode: exit });
    }
    return exit;
  } finally {
    await api?.close().catch(() => undefined);
  }
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
    err instanceof ScheduleError
  ) {
    return [EXIT.usage, err.message];
  }
  return [EXIT.runFailed, err instanceof Error ? err.message : String(err)];
}

/** BackupStatus as JSON (dates as ISO strings). */
function statusJson(s: BackupStatus): Record<string, unknown> {
  return JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
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
