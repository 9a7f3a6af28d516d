/**
 * Many servers, few drives, on a real Temporal dev server and the lab: two backups started at once on one drive, a
 * fleet of 50 sources on 4 drives with one source armed to fail, and a nightly fleet schedule triggered at once.
 * Exclusivity is shown from the lab's command log of the tape host (see tape-log.ts), cross-checked against the
 * drive locks' own record of who held each drive when.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { startLab, type Lab } from '../../lab/index';
import { startProjectWorker, testTemporal, type TestTemporal } from '../helpers/temporal';
import { hetget, tapemap } from '../lab/helpers';
import type { MksysbTapeConfig } from '../../temporal.config';
import { backupIdFromWorkflowId, progressQuery, type BackupResult } from '../../src/shared/contract';
import { driveLockStateQuery, driveLockWorkflowId, type Drive, type DriveLockState } from '../../src/shared/drive-lock';
import { fleetStatusQuery, type FleetInput, type FleetResult } from '../../src/shared/fleet';
import { createFleetSchedule, describeFleetSchedule, deleteFleetSchedule } from '../../src/client/fleet-schedule';
import { FleetClient } from '../../src/client/fleets';
import { quickPolicies } from './quick-policies';
import { overlapping, tapePhases, type TapePhase } from './tape-log';

const SOURCES = 50;
const DRIVES: Drive[] = [0, 1, 2, 3].map((i) => ({ host: 'tapesrv', device: `rmt${i}` }));
const MiB = 1 << 20;

let t: TestTemporal;
let lab: Lab;
let config: MksysbTapeConfig;
let tmp: string;

before(async () => {
  t = await testTemporal();
  lab = await startLab({ sources: SOURCES, tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: DRIVES.length }], mksysbBytes: MiB });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mksysb-fleet-'));
  config = t.config({ inventoryPath: lab.inventoryPath, policies: quickPolicies() });
  await startProjectWorker({ config, activityDeps: { pollIntervalMs: 200 } });
});
after(async () => {
  await lab?.down();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function lockState(d: Drive): Promise<DriveLockState> {
  return await t.client.workflow.getHandle(driveLockWorkflowId(d, config.taskQueue)).query(driveLockStateQuery);
}

/** Every phase lies inside a tenure of the same run in the lock's record (times: lab log vs lock workflow). */
function assertWithinTenures(phases: TapePhase[], state: DriveLockState, runOf: (workflowId: string) => string): void {
  for (const p of phases) {
    const tenure = state.recent.find((r) => runOf(r.workflowId) === p.run);
    assert.ok(tenure, `the lock of ${state.drive.device} has a tenure of ${p.run}`);
    assert.ok(
      Date.parse(tenure.grantedAt) <= p.start && p.end <= Date.parse(tenure.releasedAt),
      `${p.run}'s commands (${new Date(p.start).toISOString()}..${new Date(p.end).toISOString()}) lie inside its tenure ${tenure.grantedAt}..${tenure.releasedAt}`,
    );
  }
}

test('two backups started at once for one drive: their tape phases do not overlap and both tapes verify', async () => {
  const ids = ['aix01', 'aix02'].map((s) => `mksysb-tape/${s}/pair-${randomUUID().slice(0, 8)}`);
  const handles = await Promise.all(
    ['aix01', 'aix02'].map((source, i) =>
      t.client.workflow.start('mksysbToTape', {
        taskQueue: config.taskQueue,
        workflowId: ids[i]!,
        args: [{ source, tape: DRIVES[0]!, backupId: backupIdFromWorkflowId(ids[i]!), overwrite: true }],
      }),
    ),
  );
  const results = (await Promise.all(handles.map((h) => h.result()))) as BackupResult[];
  for (const r of results) {
    assert.equal(r.verification.readBack, true, `${r.source}: every record read back with its SHA-256`);
    assert.equal(r.verification.lsmksysb, true, `${r.source}: the archive on tape passed restore's check`);
  }

  const runs = ids.map(backupIdFromWorkflowId);
  const { phases, problems } = tapePhases(await lab.commandLog('tapesrv'), 'rmt0', runs);
  assert.deepEqual(problems, []);
  assert.equal(phases.length, 2, 'one tape phase per backup');
  assert.deepEqual(overlapping(phases), []);
  assert.ok(phases[0]!.end < phases[1]!.start, 'the second phase starts after the first ended');
  for (const p of phases) {
    assert.deepEqual(p.files, [1, 2, 3, 4]);
    assert.equal(p.archiveChecks, 1);
  }
  assertWithinTenures(phases, await lockState(DRIVES[0]!), backupIdFromWorkflowId);

  // The cartridge, read by Hercules' tools, holds the backup that wrote last.
  const last = results.find((r) => r.backupId === phases[1]!.run)!;
  const aws = lab.host('tapesrv').devices!.rmt0!.aws;
  const map = await tapemap(aws);
  assert.equal(map.files.length, 4, map.raw);
  const file4 = await hetget(aws, 4, tmp);
  const { createHash } = await import('node:crypto');
  assert.equal(createHash('sha256').update(file4).digest('hex'), last.records[3]!.sha256);
});

test('a backup terminated while it writes releases the drive; the waiting backup then writes and verifies its tape', async () => {
  const d = DRIVES[3]!;
  // The first backup's record 4 write stops at 1 MiB and stays there (the lab's pause-tape) until the test ends: it is
  // known to be writing, the drive open, whatever the machine's load. The second starts then and queues behind it;
  // its own write passes the fault the first one holds.
  await lab.setHostConfig('aix21', { mksysbBytes: 8 * MiB });
  await lab.fault('tapesrv', `pause-tape file=4 at=${MiB} device=${d.device}`);
  try {
    const ids = ['aix21', 'aix22'].map((s) => `mksysb-tape/${s}/kill-${randomUUID().slice(0, 8)}`);
    const startBackup = (source: string, i: number) =>
      t.client.workflow.start('mksysbToTape', {
        taskQueue: config.taskQueue,
        workflowId: ids[i]!,
        args: [{ source, tape: d, backupId: backupIdFromWorkflowId(ids[i]!), overwrite: true }],
      });
    const a = await startBackup('aix21', 0);
    const waitUntil = async (what: string, ok: (st: DriveLockState | undefined, stage: string | undefined) => boolean, ms: number) => {
      const end = Date.now() + ms;
      let st: DriveLockState | undefined;
      let stage: string | undefined;
      while (Date.now() < end) {
        st = await lockState(d).catch(() => undefined);
        stage = (await a.query(progressQuery).catch(() => undefined))?.stage;
        if (ok(st, stage)) return;
        await delay(100);
      }
      assert.fail(`${what}: lock ${JSON.stringify(st ? { holder: st.holder?.workflowId, queue: st.queue.map((q) => q.workflowId) } : null)}, first backup at ${stage}`);
    };
    const held = async () =>
      (await lab.commandLog('tapesrv')).some((e) => e.fault === 'pause-tape' && e.args.some((x) => x.includes(`/${backupIdFromWorkflowId(ids[0]!)}/`)));
    await waitUntil('the first backup writes', (st, stage) => st?.holder?.workflowId === ids[0] && stage === 'tape-write', 60_000);
    for (let i = 0; i < 600 && !(await held()); i++) await delay(100);
    assert.ok(await held(), 'the first backup\'s record 4 write is held at 1 MiB');
    const b = await startBackup('aix22', 1);
    await waitUntil('the second backup waits for the drive', (st) => !!st?.queue.some((q) => q.workflowId === ids[1]), 30_000);
    await a.terminate('test: holder killed during its tape write');
    const rb = (await b.result()) as BackupResult;
    assert.equal(rb.verification.readBack, true);

    const ta = (await lockState(d)).recent.find((r) => r.workflowId === ids[0])!;
    assert.equal(ta.end, 'holder-gone');
    const { phases, problems } = tapePhases(await lab.commandLog('tapesrv'), d.device, ids.map(backupIdFromWorkflowId));
    // Nothing of the killed backup ran on the drive once the next one started preparing it.
    assert.deepEqual(problems, []);
    assert.deepEqual(phases.map((x) => x.run), ids.map(backupIdFromWorkflowId));
    assert.deepEqual(phases[1]!.files, [1, 2, 3, 4]);
    assert.ok(phases[0]!.end < phases[1]!.start);
    const aws = lab.host('tapesrv').devices![d.device]!.aws;
    const { createHash } = await import('node:crypto');
    assert.equal(createHash('sha256').update(await hetget(aws, 4, tmp)).digest('hex'), rb.records[3]!.sha256);
  } finally {
    await lab.clearFaults('tapesrv');
    await lab.setHostConfig('aix21', { mksysbBytes: MiB });
  }
});

test(`a fleet of ${SOURCES} sources on ${DRIVES.length} drives completes; one failing source is reported and stops no other`, async () => {
  const sources = lab.hosts.filter((h) => h.role === 'source').map((h) => h.name);
  assert.equal(sources.length, SOURCES);
  const failing = 'aix07';
  await lab.fault(failing, 'exit command=mksysb code=71 message="0512-005 mksysb: backup of rootvg failed" always');

  const fleetId = `mksysb-fleet/test-${randomUUID().slice(0, 8)}`;
  const input: FleetInput = {
    sources,
    drives: DRIVES,
    // No operator wait: a step that used its attempts fails the backup at once (the armed mksysb fails every time).
    backupInput: { overwrite: true, verify: 'full', retry: { maxAttempts: 3 }, operatorWaitHours: 0 },
  };
  const started = Date.now();
  const handle = await t.client.workflow.start('mksysbFleet', { taskQueue: config.taskQueue, workflowId: fleetId, args: [input] });
  // While it runs, the status query shows every source.
  await delay(3000);
  const status = await handle.query(fleetStatusQuery);
  assert.equal(status.sources.length, SOURCES);
  assert.ok(status.counts.running > 0 && status.counts.running <= 2 * DRIVES.length, JSON.stringify(status.counts));
  // The client's status adds, for the running ones, what each child does (read from the child's own progress query).
  const fleets = new FleetClient(t.client, config.taskQueue, 5000);
  let doing: string | undefined;
  for (let i = 0; i < 50 && !doing; i++) {
    doing = (await fleets.status(fleetId)).sources?.find((e) => e.state === 'running' && e.doing)?.doing;
    if (!doing) await delay(200);
  }
  assert.match(doing ?? '', /^(WAITING for an operator, )?(validating|images|transfer|tape-prepare|tape-write|verify|cleanup|done): /);
  const meta = await handle.query<{ currentDetails: string }>('__temporal_workflow_metadata');
  for (const s of sources) assert.match(meta.currentDetails, new RegExp(`^- ${s}: (queued|running on tapesrv/rmt\\d|ok|FAILED)`, 'm'));
  for (const d of DRIVES) assert.match(meta.currentDetails, new RegExp(`^- tapesrv/${d.device}: `, 'm'));

  const result = (await handle.result()) as FleetResult;
  const seconds = (Date.now() - started) / 1000;
  await lab.clearFaults(failing);

  assert.equal(result.results.length, SOURCES);
  assert.equal(result.ok, SOURCES - 1);
  assert.equal(result.failed, 1);
  const bad = result.results.find((r) => r.state === 'failed')!;
  assert.equal(bad.source, failing);
  assert.match(bad.error ?? '', /mksysb|0512-005/);
  for (const r of result.results.filter((x) => x.state === 'ok')) {
    assert.ok(r.bytes! > MiB, `${r.source}: ${r.bytes} bytes on tape`);
    assert.ok(DRIVES.some((d) => d.device === r.drive?.device), `${r.source} has a drive`);
  }
  // Every drive was used.
  for (const d of DRIVES) assert.ok(result.results.some((r) => r.state === 'ok' && r.drive!.device === d.device), `${d.device} used`);

  // From the tape host's command log: per drive, phases one after another, each of one backup, on the drive the fleet gave it.
  const log = await lab.commandLog('tapesrv');
  const runOf = (workflowId: string) => backupIdFromWorkflowId(workflowId);
  const runs = result.results.map((r) => runOf(r.workflowId));
  let total = 0;
  for (const d of DRIVES) {
    const { phases, problems } = tapePhases(
      log.filter((e) => Date.parse(e.time) >= started),
      d.device,
      runs,
    );
    assert.deepEqual(problems, [], `${d.device}: ${problems.join('\n')}`);
    assert.deepEqual(overlapping(phases), []);
    for (const p of phases) {
      const r = result.results.find((x) => runOf(x.workflowId) === p.run)!;
      assert.equal(r.drive!.device, d.device, `${r.source} wrote to the drive it was given`);
      assert.deepEqual(p.files, [1, 2, 3, 4], `${r.source} on ${d.device}`);
      assert.equal(p.archiveChecks, 1);
    }
    assertWithinTenures(phases, await lockState(d), runOf);
    total += phases.length;
  }
  assert.equal(total, SOURCES - 1, 'one tape phase per successful backup');
  const failedRuns = (await lab.commandLog(failing)).filter((e) => e.command === 'mksysb' && Date.parse(e.time) >= started);
  assert.ok(failedRuns.length >= 1 && failedRuns.length <= 3, `the failing mksysb ran ${failedRuns.length} times (at most maxAttempts)`);
  for (const r of failedRuns) assert.equal(r.exit, 71);
  console.log(`fleet of ${SOURCES} on ${DRIVES.length} drives: ${seconds.toFixed(1)} s`);
});

test('a nightly fleet schedule, triggered now, runs a fleet longest image first', async () => {
  // Sizes known from earlier runs (the fleet above): make them differ, back up once, then schedule.
  const sizes: Record<string, number> = { aix11: 1 * MiB, aix12: 3 * MiB, aix13: 2 * MiB };
  for (const [h, b] of Object.entries(sizes)) await lab.setHostConfig(h, { mksysbBytes: b });
  const warm = (await (
    await t.client.workflow.start('mksysbFleet', {
      taskQueue: config.taskQueue,
      workflowId: `mksysb-fleet/warm-${randomUUID().slice(0, 8)}`,
      args: [{ sources: Object.keys(sizes), drives: DRIVES.slice(0, 2), backupInput: { overwrite: true } }],
    })
  ).result()) as FleetResult;
  assert.equal(warm.ok, 3);

  const scheduleId = `nightly-${randomUUID().slice(0, 8)}`;
  const info = await createFleetSchedule(t.client, {
    scheduleId,
    cron: '0 1 * * *',
    timeZone: 'Europe/Berlin',
    overlap: 'skip',
    catchupWindow: '2h',
    taskQueue: config.taskQueue,
    input: { sources: Object.keys(sizes), drives: DRIVES.slice(0, 2), backupInput: { overwrite: true } },
  });
  try {
    assert.equal(info.timeZone, 'Europe/Berlin');
    assert.deepEqual(info.cron, ['0 1 * * *']);
    assert.equal(info.overlap, 'SKIP');
    assert.equal(info.catchupWindowMs, 2 * 3600_000);
    assert.equal(info.paused, false);
    assert.ok(info.nextActionTimes.length > 0);

    await t.client.schedule.getHandle(scheduleId).trigger();
    let runId: string | undefined;
    for (let i = 0; i < 100 && !runId; i++) {
      runId = (await describeFleetSchedule(t.client, scheduleId)).recentActions[0]?.workflowId;
      if (!runId) await delay(200);
    }
    assert.ok(runId, 'the schedule started a fleet run');
    assert.ok(runId.startsWith(`mksysb-fleet/${scheduleId}-`), runId);
    const result = (await t.client.workflow.getHandle(runId).result()) as FleetResult;
    assert.equal(result.ok, 3);
    // Started longest first, by the tape bytes of each source's last backup.
    assert.deepEqual(result.results.map((r) => r.source), ['aix12', 'aix13', 'aix11']);
    const expected = result.results.map((r) => r.expectedBytes!);
    assert.ok(expected[0]! > expected[1]! && expected[1]! > expected[2]!, JSON.stringify(expected));
  } finally {
    await deleteFleetSchedule(t.client, scheduleId);
  }
});

test('a fleet with an unknown source or drive fails at once, naming them', async () => {
  const handle = await t.client.workflow.start('mksysbFleet', {
    taskQueue: config.taskQueue,
    workflowId: `mksysb-fleet/bad-${randomUUID().slice(0, 8)}`,
    args: [{ sources: ['aix01', 'nosuch'], drives: [{ host: 'tapesrv', device: 'rmt9' }] }],
  });
  await assert.rejects(handle.result(), (err: Error) => {
    const msgs: string[] = [];
    for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) msgs.push(e.message);
    const msg = msgs.join('\n');
    assert.match(msg, /sources\[1\] "nosuch" is not a host in the inventory/);
    assert.match(msg, /drives\[0\]\.device "rmt9" is not a device of tapesrv/);
    return true;
  });
});

test('a fleet asked for writeWhileMksysb gives it to the longest child alone on its drive, not to the one queued behind it; both tapes verify', async () => {
  // Sizes known from a first night (its own schedule, asserted elsewhere): aix32 the larger.
  const sizes: Record<string, number> = { aix31: 1 * MiB, aix32: 3 * MiB };
  for (const [h, b] of Object.entries(sizes)) await lab.setHostConfig(h, { mksysbBytes: b });
  try {
    const drive = DRIVES[0]!;
    const night = async (backupInput: FleetInput['backupInput']) =>
      (await (
        await t.client.workflow.start('mksysbFleet', {
          taskQueue: config.taskQueue,
          workflowId: `mksysb-fleet/test-${randomUUID().slice(0, 8)}`,
          // Both children start at once on the one drive (the default: two per drive).
          args: [{ sources: ['aix31', 'aix32'], drives: [drive], backupInput } satisfies FleetInput],
        })
      ).result()) as FleetResult;
    assert.equal((await night({ overwrite: true, verify: 'lsmksysb' })).ok, 2);

    const result = await night({ overwrite: true, verify: 'full', writeWhileMksysb: true });
    assert.deepEqual(result.results.map((r) => [r.source, r.state]), [['aix32', 'ok'], ['aix31', 'ok']], 'longest first');
    const child = async (source: string) => (await t.client.workflow.getHandle(result.results.find((r) => r.source === source)!.workflowId).result()) as BackupResult;
    const [big, small] = [await child('aix32'), await child('aix31')];
    assert.deepEqual(big.stream, { streamed: true, earlyRecords: [1, 2, 3] }, 'aix32 started alone on the drive, nothing larger behind it');
    assert.equal(small.stream, undefined, 'aix31 started with aix32 on its drive: the tape after mksysb');
    for (const r of [big, small]) assert.deepEqual([r.verification.lsmksysb, r.verification.readBack], [true, true], `${r.source}: ${r.verification.details.join('; ')}`);
    // Either may be granted the drive first (aix31's images can be ready before aix32's first two are staged); the
    // stream holds it as exclusively as a write after mksysb.
    const state = await lockState(drive);
    const [a, b] = ['aix32', 'aix31']
      .map((source) => state.recent.find((x) => x.workflowId === result.results.find((r) => r.source === source)!.workflowId)!)
      .sort((x, y) => Date.parse(x.grantedAt) - Date.parse(y.grantedAt));
    assert.ok(Date.parse(a!.releasedAt) <= Date.parse(b!.grantedAt), JSON.stringify(state.recent));
  } finally {
    for (const h of Object.keys(sizes)) await lab.setHostConfig(h, { mksysbBytes: MiB });
  }
});
