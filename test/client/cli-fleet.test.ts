/**
 * The fleet parts of bin/mksysb-tape, run in a child process against the dev server, a worker and a lab of 4 sources
 * and one tape host with 2 drives: a fleet schedule created from the CLI and triggered from the CLI starts a fleet run
 * that completes with every source ok (each child's tape read back); `fleet start --wait --json`; bad usage exits 2.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { BackupResult } from '../../src/shared/contract';
import type { FleetInput, FleetResult, FleetSourceResult, FleetStatus } from '../../src/shared/fleet';
import { describeFleetSchedule } from '../../src/client/fleet-schedule';
import { clientEnv, eventually, runCli } from './env';

const MiB = 1 << 20;
const DRIVES = 'tapesrv:rmt0,tapesrv:rmt1';
const GROUP = 'cli-night';

interface FleetRunJson {
  workflowId: string;
  runId: string;
  status: string;
  counts?: FleetStatus['counts'];
  sources?: FleetSourceResult[];
  result?: FleetResult;
  failure?: string;
}

interface FleetScheduleJson {
  kind?: string;
  scheduleId: string;
  cron: string[];
  timeZone?: string;
  paused: boolean;
  note?: string;
  overlap: string;
  catchupWindowMs: number;
  workflowIdPrefix: string;
  recentActions: Array<{ workflowId: string }>;
  input?: FleetInput;
}

test('mksysb-tape fleet CLI', async (t) => {
  const env = await clientEnv({ lab: { sources: 4, tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 2 }], mksysbBytes: MiB } });
  const { lab, api } = env;
  const cli = (args: string[], opts?: { timeoutMs?: number }) => runCli(args, env.cliEnv(), opts);
  const sources = lab.hosts.filter((h) => h.role === 'source').map((h) => h.name);
  assert.equal(sources.length, 4);

  // An inventory group of the four sources (the worker re-reads the inventory when the file changes).
  const inv = JSON.parse(fs.readFileSync(lab.inventoryPath, 'utf8')) as { groups?: Record<string, string[]> };
  inv.groups = { ...(inv.groups ?? {}), [GROUP]: sources };
  fs.writeFileSync(lab.inventoryPath, JSON.stringify(inv, null, 2));

  /** Every source ok, on one of the two drives, with more than its 1 MiB image on tape, and each child's tape verified. */
  const assertAllOk = async (r: FleetResult, expected: string[]) => {
    assert.equal(r.ok, expected.length, JSON.stringify(r.results));
    assert.equal(r.failed, 0);
    assert.deepEqual(r.results.map((e) => e.source).sort(), [...expected].sort());
    for (const e of r.results) {
      assert.equal(e.state, 'ok');
      assert.match(`${e.drive?.host}:${e.drive?.device}`, /^tapesrv:rmt[01]$/);
      assert.ok(e.bytes! > MiB, `${e.source}: ${e.bytes} bytes on tape`);
      const child = (await api.result(e.workflowId)) as BackupResult;
      assert.equal(child.verification.readBack, true, `${e.source}: every record read back with its SHA-256`);
      assert.equal(child.verification.lsmksysb, true, `${e.source}: lsmksysb -V passed`);
    }
  };

  await t.test('schedule create --fleet, list, unpause, trigger: the schedule starts a fleet run that completes with every source ok', async () => {
    const sid = `cli-fleet-${randomUUID().slice(0, 8)}`;
    const create = await cli([
      '--json', 'schedule', 'create', '--fleet', '--group', GROUP, '--drives', DRIVES,
      '--cron', '0 1 * * *', '--time-zone', 'Europe/Berlin', '--overlap', 'skip', '--catchup-window', '2h',
      '--max-per-tape-host', '3', '--backup-input', '{"overwrite":true}', '--verify', 'full', '--id', sid, '--paused',
    ]);
    assert.equal(create.code, 0, create.stderr + create.stdout);
    const made = JSON.parse(create.stdout) as FleetScheduleJson;
    assert.equal(made.kind, 'fleet');
    assert.equal(made.scheduleId, sid);
    assert.deepEqual(made.cron, ['0 1 * * *']);
    assert.equal(made.timeZone, 'Europe/Berlin');
    assert.equal(made.paused, true);
    assert.equal(made.workflowIdPrefix, `mksysb-fleet/${sid}`);
    assert.deepEqual(made.input, {
      group: GROUP,
      drives: [{ host: 'tapesrv', device: 'rmt0' }, { host: 'tapesrv', device: 'rmt1' }],
      maxConcurrentMksysbPerTapeHost: 3,
      backupInput: { overwrite: true, verify: 'full' },
    });
    // What the server holds, read without the CLI.
    const held = await describeFleetSchedule(env.t.client, sid);
    assert.equal(held.overlap, 'SKIP');
    assert.equal(held.catchupWindowMs, 2 * 3600_000);
    assert.equal(held.timeZone, 'Europe/Berlin');
    assert.equal(held.paused, true);

    try {
      const list = await cli(['--json', 'schedule', 'list']);
      assert.equal(list.code, 0, list.stderr);
      const mine = (JSON.parse(list.stdout) as FleetScheduleJson[]).find((s) => s.scheduleId === sid);
      assert.equal(mine?.kind, 'fleet');
      assert.equal(mine.input?.group, GROUP);
      const human = await cli(['schedule', 'list']);
      assert.match(human.stdout, /FLEET SCHEDULE ID/);
      assert.match(human.stdout, new RegExp(`${sid}\\s+paused\\s+0 1 \\* \\* \\* \\(Europe/Berlin\\)\\s+group ${GROUP}\\s+${DRIVES}`));

      const unpause = await cli(['schedule', 'unpause', sid]);
      assert.equal(unpause.code, 0, unpause.stderr);
      assert.equal((await describeFleetSchedule(env.t.client, sid)).paused, false);

      const trigger = await cli(['--json', 'schedule', 'trigger', sid]);
      assert.equal(trigger.code, 0, trigger.stderr);
      assert.deepEqual(JSON.parse(trigger.stdout), { scheduleId: sid, triggered: true });

      // The run the schedule started, found from the CLI.
      const runId = await eventually('the fleet run in schedule list --json', async () => {
        const l = await cli(['--json', 'schedule', 'list']);
        return (JSON.parse(l.stdout) as FleetScheduleJson[]).find((s) => s.scheduleId === sid)?.recentActions[0]?.workflowId;
      });
      assert.ok(runId.startsWith(`mksysb-fleet/${sid}-`), runId);

      const watch = await cli(['--json', 'fleet', 'watch', runId, '--interval', '300'], { timeoutMs: 240_000 });
      assert.equal(watch.code, 0, watch.stderr + watch.stdout);
      const end = JSON.parse(watch.stdout) as FleetRunJson;
      assert.equal(end.workflowId, runId);
      assert.equal(end.status, 'COMPLETED');
      assert.deepEqual(end.counts, { queued: 0, running: 0, ok: 4, failed: 0 });
      await assertAllOk(end.result!, sources);
      // The fleet's own result, read without the CLI, says the same.
      await assertAllOk((await env.t.client.workflow.getHandle(runId).result()) as FleetResult, sources);

      const status = await cli(['fleet', 'status', runId]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`^fleet ${runId} \\(run [^)]+\\): COMPLETED, 4 ok, 0 failed, 0 running, 0 queued`));
      for (const s of sources) assert.match(status.stdout, new RegExp(`^${s}\\s+ok\\s+tapesrv:rmt[01]\\s+\\d+`, 'm'));

      const pause = await cli(['schedule', 'pause', sid, '--note', 'library maintenance']);
      assert.equal(pause.code, 0, pause.stderr);
      const paused = await describeFleetSchedule(env.t.client, sid);
      assert.equal(paused.paused, true);
      assert.equal(paused.note, 'library maintenance');
      const update = await cli(['schedule', 'update', sid, '--source', 'aix01', '--tape', 'tapesrv:rmt0']);
      assert.equal(update.code, 2);
      assert.match(update.stderr, /is a fleet schedule/);
    } finally {
      const del = await cli(['schedule', 'delete', sid]);
      assert.equal(del.code, 0, del.stderr);
    }
    const gone = await cli(['schedule', 'trigger', sid]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /no schedule/);
  });

  await t.test('fleet start --wait --json completes and exits 0; a second start of that fleet is refused; fleet status --json', async () => {
    const id = `mksysb-fleet/cli-${randomUUID().slice(0, 8)}`;
    const two = sources.slice(0, 2);
    const r = await cli(['--json', 'fleet', 'start', '--sources', two.join(','), '--drives', DRIVES, '--overwrite', '--workflow-id', id, '--wait', '--interval', '300'], { timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const out = JSON.parse(r.stdout) as FleetRunJson & { input: FleetInput };
    assert.equal(out.workflowId, id);
    assert.equal(out.status, 'COMPLETED');
    assert.deepEqual(out.input.sources, two);
    assert.deepEqual(out.input.backupInput, { overwrite: true });
    await assertAllOk(out.result!, two);

    const again = await cli(['--json', 'fleet', 'start', '--sources', two.join(','), '--drives', DRIVES, '--workflow-id', id]);
    assert.equal(again.code, 2);
    assert.match((JSON.parse(again.stdout) as { error: { message: string } }).error.message, /already started/);

    const st = await cli(['--json', 'fleet', 'status', id]);
    assert.equal(st.code, 0, st.stderr);
    assert.deepEqual((JSON.parse(st.stdout) as FleetRunJson).counts, { queued: 0, running: 0, ok: 2, failed: 0 });
  });

  await t.test('a fleet of an unknown group fails; fleet start --wait exits 1 with the reason', async () => {
    const id = `mksysb-fleet/cli-bad-${randomUUID().slice(0, 8)}`;
    const r = await cli(['fleet', 'start', '--group', 'nosuch', '--drives', DRIVES, '--workflow-id', id, '--wait', '--interval', '200']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`fleet ${id} ended failed: [\\s\\S]*group "nosuch" is not in the inventory`));
    const st = await cli(['fleet', 'status', id]);
    assert.equal(st.code, 1);
    assert.match(st.stdout, /FAILED/);
  });

  await t.test('bad usage exits 2 with a message, before contacting Temporal', async () => {
    const offline = { ...env.cliEnv(), TEMPORAL_ADDRESS: '127.0.0.1:1' };
    const cases: Array<[string[], RegExp]> = [
      [['fleet', 'start', '--drives', DRIVES], /--group NAME .* or --sources/],
      [['fleet', 'start', '--group', GROUP, '--sources', 'aix01', '--drives', DRIVES], /one of the two/],
      [['fleet', 'start', '--sources', 'aix01'], /--drives needs at least one drive/],
      [['fleet', 'start', '--sources', 'aix01', '--drives', 'tapesrv'], /--drives must be HOST:DEVICE/],
      [['fleet', 'start', '--sources', 'aix01', '--drives', DRIVES, '--source', 'aix02'], /unknown option '--source'/],
      [['schedule', 'create', '--fleet', '--sources', 'aix01', '--drives', DRIVES, '--tape', 'tapesrv:rmt0', '--cron', '0 1 * * *', '--id', 'x'], /--tape: for a single backup/],
      [['fleet', 'start', '--sources', 'aix01', '--drives', DRIVES, '--backup-input', '{"source":"aix02"}'], /leave out "source"/],
      [['fleet', 'start', '--sources', 'aix01', '--drives', DRIVES, '--backup-input', 'verify=full'], /--backup-input is not valid JSON/],
      [['fleet', 'start', '--sources', 'aix01', '--drives', DRIVES, '--record4-block-size', '1000'], /record4BlockSize 1000: must be a multiple of 512/],
      [['fleet', 'start', '--sources', 'aix01', '--drives', DRIVES, '--max-transfers', '0'], /--max-transfers must be a whole number from 1/],
      [['fleet', 'start', '--sources', 'aix01', '--drives', DRIVES, '--verify', 'sometimes'], /argument 'sometimes' is invalid/],
      [['fleet', 'status'], /missing required argument/],
      [['schedule', 'create', '--fleet', '--sources', 'aix01', '--drives', DRIVES, '--cron', '0 1 * * *'], /needs --id/],
      [['schedule', 'create', '--fleet', '--group', GROUP, '--drives', DRIVES], /required option '--cron <expr>'/],
      [['schedule', 'create', '--fleet', '--group', GROUP, '--drives', DRIVES, '--cron', '0 1 * * *', '--catchup-window', 'soon'], /--catchup-window must be a duration/],
      [['schedule', 'create', '--source', 'aix01', '--tape', 'tapesrv:rmt0', '--drives', DRIVES, '--cron', '0 1 * * *'], /--drives: only for a fleet schedule; add --fleet/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, offline);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
    }
    const unknown = await cli(['fleet', 'status', 'mksysb-fleet/no-such-run']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no fleet run with workflow ID mksysb-fleet\/no-such-run/);
  });
});
