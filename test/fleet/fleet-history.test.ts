/**
 * A fleet's history stays bounded, on a real Temporal dev server and the lab: a fleet of many sources (tiny images)
 * continues as new several times, carries a child that waits for an operator from its first run to its last, and
 * adds no event while that child waits; a cancelled fleet that has continued as new cancels the children its earlier
 * runs started. Each run's history length and the events per source are printed.
 */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { startLab, type Lab } from '../../lab/index';
import { startProjectWorker, testTemporal, type TestTemporal } from '../helpers/temporal';
import type { MksysbTapeConfig } from '../../temporal.config';
import { retrySignal } from '../../src/shared/contract';
import type { Drive } from '../../src/shared/drive-lock';
import type { FleetInput, FleetResult } from '../../src/shared/fleet';
import { FleetClient, type FleetRunStatus } from '../../src/client/fleets';
import { quickPolicies } from './quick-policies';

/**
 * Real backups cost CPU (each runs some 40 SSH commands, each a command double on the lab): on this 2-core machine,
 * shared, at a load average of 10 to 14, 60 took 138 s and 48 took 133 s; the default, 40, took 110 s;
 * MKSYSB_TEST_FLEET_SOURCES=200 runs the fleet of the issue (figures in BENCHMARKS.md, "Fleet history").
 */
const SOURCES = Number(process.env.MKSYSB_TEST_FLEET_SOURCES ?? 40);
const DRIVES: Drive[] = Array.from({ length: 8 }, (_, i) => ({ host: 'tapesrv', device: `rmt${i}` }));
/** About a quarter of what the whole fleet adds, so that it continues as new several times. */
const MAX_EVENTS = 2 * SOURCES;
const MKSYSB_FAILS = 'exit command=mksysb code=71 message="0512-005 mksysb: backup of rootvg failed" always';

let t: TestTemporal;
let lab: Lab;
let config: MksysbTapeConfig;
let fleets: FleetClient;

before(async () => {
  t = await testTemporal();
  // Host names of this file only: the fleet orders its sources by the sizes of their last backups on this dev server,
  // and other test files back up the lab's usual names (aix01, ...), which would change which run starts which source.
  const names = Array.from({ length: SOURCES }, (_, i) => `hist${String(i + 1).padStart(3, '0')}`);
  lab = await startLab({ sources: names, tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: DRIVES.length }], mksysbBytes: 64 << 10, bootImageBytes: 64 << 10 });
  config = t.config({ inventoryPath: lab.inventoryPath, policies: quickPolicies() });
  await startProjectWorker({ config, activityDeps: { pollIntervalMs: 200 } });
  fleets = new FleetClient(t.client, config.taskQueue, 5000);
});
after(async () => {
  await lab?.down();
});

/** Polls the fleet's status (through the client, as the CLI does) until `ok` holds; fails with the last status after `ms`. */
async function statusWhen(fleetId: string, what: string, ok: (s: FleetRunStatus) => boolean, ms: number): Promise<FleetRunStatus> {
  const end = Date.now() + ms;
  let s: FleetRunStatus | undefined;
  while (Date.now() < end) {
    s = await fleets.status(fleetId);
    if (ok(s)) return s;
    if (s.status !== 'RUNNING') break;
    await delay(500);
  }
  assert.fail(`${what}: fleet ${s?.status} run ${s?.run}, ${JSON.stringify(s?.counts)}`);
}

/** Every run of a fleet, first to last, by following each run's continue-as-new event: its events and input size. */
async function runsOf(workflowId: string, firstRunId: string): Promise<Array<{ runId: string; events: number; inputBytes: number }>> {
  const out: Array<{ runId: string; events: number; inputBytes: number }> = [];
  for (let runId: string | undefined = firstRunId; runId; ) {
    const history: temporal.api.history.v1.IHistory = await t.client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    out.push({ runId, events: events.length, inputBytes: input.reduce((n, p) => n + (p.data?.length ?? 0), 0) });
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return out;
}

test(`a fleet of ${SOURCES} sources continues as new, carries a child that waits for an operator, and adds no event while it waits`, async () => {
  const sources = lab.hosts.filter((h) => h.role === 'source').map((h) => h.name);
  assert.equal(sources.length, SOURCES);
  const waiting = sources[0]!;
  await lab.fault(waiting, MKSYSB_FAILS);
  const fleetId = `mksysb-fleet/history-${randomUUID().slice(0, 8)}`;
  const input: FleetInput = {
    sources,
    drives: DRIVES,
    maxHistoryEvents: MAX_EVENTS,
    // Ignored now; the fleet that polled its children every 2 s would add about 11 events per period.
    detailsEverySeconds: 2,
    backupInput: { overwrite: true, verify: 'none', retry: { maxAttempts: 1 }, operatorWaitHours: 1 },
  };
  const started = Date.now();
  const handle = await t.client.workflow.start('mksysbFleet', { taskQueue: config.taskQueue, workflowId: fleetId, args: [input] });

  // Every other source done; the first one, started by the first run, still waits for an operator.
  const quiet = await statusWhen(fleetId, 'all but the waiting source done', (s) => s.counts?.ok === SOURCES - 1 && s.counts.running === 1, SOURCES * 30_000);
  const entry = quiet.sources!.find((e) => e.source === waiting)!;
  assert.equal(entry.state, 'running');
  assert.match(entry.doing ?? '', /^WAITING for an operator, images: /, 'the client reads what the child does from the child');
  assert.ok((quiet.run ?? 0) >= 2, `the fleet continued as new (now in run ${quiet.run})`);
  const child = await t.client.workflow.getHandle(entry.workflowId).describe();
  assert.equal(child.parentExecution?.runId, handle.firstExecutionRunId, 'the waiting child was started by the first run');

  // Five of the old polling periods: not one event.
  const current = t.client.workflow.getHandle(fleetId, quiet.runId);
  const before = (await current.describe()).historyLength;
  await delay(5 * 2000);
  const afterWait = await current.describe();
  assert.equal(afterWait.status.name, 'RUNNING');
  assert.equal(afterWait.historyLength, before, 'no event while the child waits');

  // The operator answers; the fleet, in its last run, sees the carried child end.
  await lab.clearFaults(waiting);
  await t.client.workflow.getHandle(entry.workflowId).signal(retrySignal, { reason: 'test: mksysb fixed' });
  const result = (await handle.result()) as FleetResult;
  const seconds = (Date.now() - started) / 1000;
  assert.equal(result.ok, SOURCES, JSON.stringify(result.results.filter((r) => r.state !== 'ok')));
  assert.equal(result.failed, 0);
  assert.deepEqual(result.results.map((r) => r.source).sort(), [...sources].sort());
  const w = result.results.find((r) => r.source === waiting)!;
  assert.equal(w.state, 'ok');
  assert.ok(w.bytes! > 64 << 10, `${waiting}: ${w.bytes} bytes on tape`);
  assert.equal(result.results[0]!.source, waiting, 'the result keeps the order the children started in');

  const runs = await runsOf(fleetId, handle.firstExecutionRunId);
  assert.equal(result.runs, runs.length);
  assert.ok(runs.length >= 3, `${runs.length} runs`);
  assert.equal(runs.at(-1)!.runId, quiet.runId, 'no run began while the child waited');
  // A run checks its length before each child it starts; past the bound it only waits for the starts in flight.
  // At most 2 × 8 children run, each adding up to about 8 events (start, end, their workflow tasks) meanwhile.
  const limit = MAX_EVENTS + 8 * 2 * DRIVES.length;
  for (const r of runs) assert.ok(r.events <= limit, `run ${r.runId}: ${r.events} events (bound ${limit})`);
  const total = runs.reduce((n, r) => n + r.events, 0);
  // A child's start (initiated, started) and end (completed), each taken in by a workflow task of 3 events: 12 at
  // most; the runs' own beginnings add less than 1 per source here.
  assert.ok(total / SOURCES <= 12, `${(total / SOURCES).toFixed(2)} events per source`);
  console.log(
    `fleet of ${SOURCES} on ${DRIVES.length} drives, continue-as-new at ${MAX_EVENTS} events: ${seconds.toFixed(1)} s, ${runs.length} runs of ` +
      `${runs.map((r) => r.events).join(', ')} events (${total} in all, ${(total / SOURCES).toFixed(2)} per source); ` +
      `no event in ${(5 * 2000) / 1000} s of operator wait (history ${before}); carried input ${Math.max(...runs.map((r) => r.inputBytes))} bytes`,
  );
});

test('a cancelled fleet that continued as new cancels the children its earlier runs started', async () => {
  const [waiting, a, b] = lab.hosts.filter((h) => h.role === 'source').map((h) => h.name);
  await lab.fault(waiting!, MKSYSB_FAILS);
  try {
    const fleetId = `mksysb-fleet/cancel-${randomUUID().slice(0, 8)}`;
    const handle = await t.client.workflow.start('mksysbFleet', {
      taskQueue: config.taskQueue,
      workflowId: fleetId,
      // A bound below what a run begins with: each run starts one child and continues as new.
      args: [{ sources: [waiting!, a!, b!], drives: DRIVES.slice(0, 1), maxHistoryEvents: 1, backupInput: { overwrite: true, verify: 'none', retry: { maxAttempts: 1 }, operatorWaitHours: 1 } }],
    });
    const s = await statusWhen(fleetId, 'two done, the first waiting', (x) => x.counts?.ok === 2 && /^WAITING/.test(x.sources?.find((e) => e.source === waiting)?.doing ?? ''), 300_000);
    assert.ok((s.run ?? 0) >= 3, `run ${s.run}`);
    await t.client.workflow.getHandle(fleetId).cancel();

    const child = t.client.workflow.getHandle(`${fleetId}/${waiting}`);
    await assert.rejects(child.result(), (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    assert.equal((await child.describe()).status.name, 'CANCELLED');
    await assert.rejects(handle.result(), (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure);
    assert.equal((await t.client.workflow.getHandle(fleetId).describe()).status.name, 'CANCELLED');
  } finally {
    await lab.clearFaults(waiting!);
  }
});
