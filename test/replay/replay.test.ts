/**
 * Recorded histories (test/replay/histories/, `npm run record-histories`) replayed against the current workflow
 * code with the SDK's replayer. Backups stay open for hours and drive locks for months: a change to workflow code
 * that would make an open run take another path than its history is caught here, before a deploy breaks those runs
 * with a non-determinism error. No server, no lab: a replay needs only the histories and the bundle.
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { defaultPayloadConverter } from '@temporalio/common';
import type { History } from '@temporalio/common/lib/proto-utils';
import { Worker, bundleWorkflowCode, type ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { WORKFLOWS_PATH } from '../../src/worker';
import * as workflows from '../../src/workflows';
import { installWorkerLogRuntime } from '../helpers/worker-log';
import { readHistory, readManifest, type RecordedHistory } from './histories';
import { SITUATIONS } from './situations';
import { CHECK_WHILE_MKSYSB } from '../../src/workflows/tape-while-mksysb';

installWorkerLogRuntime('WARN');

const manifest = readManifest();
const histories = new Map(manifest.histories.map((h) => [h.file, readHistory(h)] as const));
let options: ReplayWorkerOptions;

before(async () => {
  // The bundle of this test run (scripts/test.ts), or one made now when the file runs alone.
  const bundlePath = process.env.MKSYSB_TEST_WORKFLOW_BUNDLE;
  const workflowBundle = bundlePath ? { codePath: bundlePath } : { code: (await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH })).code };
  options = { workflowBundle, replayName: 'mksysb-tape-replay' };
});

type Event = NonNullable<History['events']>[number];
const eventsOf = (file: string): Event[] => histories.get(file)?.events ?? [];
const entriesOf = (situation: string): RecordedHistory[] => manifest.histories.filter((h) => h.situation === situation);
const decode = (p: { payloads?: unknown[] | null } | null | undefined): unknown =>
  p?.payloads?.[0] ? defaultPayloadConverter.fromPayload(p.payloads[0] as never) : undefined;

function activities(file: string): string[] {
  return eventsOf(file).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name ?? ''] : []));
}
function signals(file: string): { name: string; input: unknown }[] {
  return eventsOf(file).flatMap((e) => {
    const s = e.workflowExecutionSignaledEventAttributes;
    return s ? [{ name: s.signalName ?? '', input: decode(s.input) }] : [];
  });
}
/** Names of the updates the run accepted and completed. */
function updates(file: string): string[] {
  const events = eventsOf(file);
  const done = new Set(events.map((e) => e.workflowExecutionUpdateCompletedEventAttributes?.meta?.updateId).filter(Boolean));
  return events.flatMap((e) => {
    const a = e.workflowExecutionUpdateAcceptedEventAttributes;
    return a && done.has(a.protocolInstanceId) ? [a.acceptedRequest?.input?.name ?? ''] : [];
  });
}
/** How the run ended: completed, failed (with the failure message), canceled, continued-as-new, or open. */
function ending(file: string): string {
  const last = eventsOf(file).at(-1);
  if (last?.workflowExecutionCompletedEventAttributes) return 'completed';
  if (last?.workflowExecutionFailedEventAttributes) return `failed: ${last.workflowExecutionFailedEventAttributes.failure?.message ?? ''}`;
  if (last?.workflowExecutionCanceledEventAttributes) return 'canceled';
  if (last?.workflowExecutionContinuedAsNewEventAttributes) return 'continued-as-new';
  return 'open';
}
/** The patch IDs the run's code recorded (patched()). */
function patches(file: string): string[] {
  return eventsOf(file).flatMap((e) => {
    const m = e.markerRecordedEventAttributes;
    const data = m?.markerName === 'core_patch' ? decode(m.details?.['patch-data']) : undefined;
    return data && typeof data === 'object' && 'id' in data ? [String((data as { id: unknown }).id)] : [];
  });
}
const startOf = (file: string) => eventsOf(file)[0]?.workflowExecutionStartedEventAttributes;
const count = (xs: string[], x: string) => xs.filter((y) => y === x).length;

test('every workflow type the worker registers has recorded histories', () => {
  const types = Object.keys(workflows).sort();
  assert.deepEqual([...new Set(manifest.histories.map((h) => h.workflowType))].sort(), types);
  for (const h of manifest.histories) assert.equal(startOf(h.file)?.workflowType?.name, h.workflowType, h.file);
});

test('the histories show the situations they were recorded for', () => {
  assert.deepEqual([...new Set(manifest.histories.map((h) => h.situation))].sort(), SITUATIONS.map((s) => s.name).sort());
  const f = (situation: string, suffix = '') => `${situation}${suffix}.json`;
  assert.deepEqual(activities(f('worker-ping')), ['workerInfo']);
  const backup = activities(f('backup-succeeds'));
  assert.equal(ending(f('backup-succeeds')), 'completed');
  assert.deepEqual([count(backup, 'makeImage'), count(backup, 'writeRecord'), count(backup, 'cleanupStaging')], [3, 4, 1]);
  // A write that failed once and was written by its activity's second attempt, without the operator.
  const retried = eventsOf(f('write-retried')).find((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1)?.activityTaskStartedEventAttributes;
  assert.match(retried?.lastFailure?.message ?? '', /write record 3 .*failed/);
  assert.equal(ending(f('write-retried')), 'completed');
  // (Besides the operator's, a backup receives the drive lock's `driveGranted`.)
  const operatorSignals = (file: string) => signals(file).filter((s) => s.name === 'retry' || s.name === 'abort');
  assert.deepEqual(operatorSignals(f('operator-retry-signal')), [{ name: 'retry', input: { fromRecord: 2, reason: 'drive cleaned' } }]);
  assert.equal(count(activities(f('operator-retry-signal')), 'writeRecord'), 6, 'records 1, 2 and 3 (failed), then 2, 3 and 4');
  assert.equal(ending(f('operator-retry-signal')), 'completed');
  assert.deepEqual(updates(f('operator-retry-update')), ['retryNow']);
  assert.equal(ending(f('operator-retry-update')), 'completed');
  assert.deepEqual(operatorSignals(f('operator-abort-signal')).map((s) => s.name), ['abort']);
  assert.match(ending(f('operator-abort-signal')), /^failed: aborted by an operator \(cartridge damaged\)/);
  assert.deepEqual(updates(f('operator-abort-update')), ['abortNow']);
  assert.match(ending(f('operator-abort-update')), /^failed: aborted by an operator \(drive sent for repair\)/);
  // Every wait for an operator told people when it started and when it ended.
  assert.equal(count(activities(f('operator-retry-signal')), 'notifyPeople'), 2);
  const spanned = activities(f('multi-volume'));
  assert.deepEqual([count(spanned, 'writeRecord'), count(spanned, 'writeVolume'), count(spanned, 'ejectCartridge')], [4, 2, 2]);
  assert.deepEqual(signals(f('multi-volume')).filter((s) => s.name === 'volumeLoaded'), [{ name: 'volumeLoaded', input: {} }]);
  assert.deepEqual(updates(f('multi-volume')), ['volumeLoadedNow']);
  assert.equal(ending(f('multi-volume')), 'completed');
  const restaged = activities(f('verify-restages'));
  assert.ok(restaged.includes('checkStagedImage'), 'the verify round checked the staged copies');
  assert.equal(count(restaged, 'writeRecord'), 5, 'records 1 to 4, then record 4 again');
  assert.equal(ending(f('verify-restages')), 'completed');
  for (const c of ['cancel-during-mksysb', 'cancel-while-waiting']) {
    assert.ok(eventsOf(f(c)).some((e) => e.workflowExecutionCancelRequestedEventAttributes), `${c}: cancel requested`);
    assert.equal(ending(f(c)), 'canceled', `${c}: the run ended Canceled`);
  }
  const fleet = eventsOf(f('fleet-failing-child'));
  assert.equal(fleet.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length, 3);
  assert.equal(fleet.filter((e) => e.childWorkflowExecutionFailedEventAttributes).length, 1);
  assert.equal(fleet.filter((e) => e.childWorkflowExecutionCompletedEventAttributes).length, 2);
  assert.equal(ending(f('fleet-failing-child')), 'completed');
  assert.match(ending(f('fleet-failing-child', '.aix03')), /^failed: .*0512-005/);
  assert.equal(startOf(f('fleet-failing-child', '.aix02'))?.parentWorkflowExecution?.workflowId, 'mksysb-fleet/replay-failing-child');
  const fleetRuns = entriesOf('fleet-continues-as-new').map((h) => h.file);
  assert.ok(fleetRuns.length >= 3, `${fleetRuns.length} runs of the fleet`);
  assert.deepEqual(fleetRuns.map(ending), [...fleetRuns.slice(1).map(() => 'continued-as-new'), 'completed']);
  assert.ok(fleetRuns.slice(1).some((r) => activities(r).includes('awaitFleetChildren')), 'a later run awaits the children of earlier ones');
  // The lock's chain of runs: each but the last continued as new; across them each of the five probes was granted once.
  const lockRuns = entriesOf('drive-lock-queue').filter((h) => h.workflowType === 'driveLock').map((h) => h.file);
  assert.ok(lockRuns.length >= 2, `${lockRuns.length} runs of the lock`);
  assert.deepEqual(lockRuns.map(ending), [...lockRuns.slice(1).map(() => 'continued-as-new'), 'open']);
  const grants = lockRuns.flatMap((r) => eventsOf(r).filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName === 'driveGranted'));
  assert.equal(grants.length, 5);
  assert.ok(activities(f('drive-lock-holder-gone')).includes('describeWorkflowRun'), 'the holder check asked Temporal');
  // writeWhileMksysb before and since the tape is checked in mksysb's time: both stream record 4; the later one
  // checks records 1-3 in a verify of their own while mksysb runs, and record 4 in another when the stream ends.
  for (const [file, checks] of [[f('write-while-mksysb'), 1], [f('write-while-mksysb-checked'), 2]] as const) {
    const acts = activities(file);
    assert.equal(count(acts, 'streamRecord4'), 1, file);
    assert.equal(count(acts, 'verifyTape'), checks, file);
    assert.deepEqual(patches(file), checks === 2 ? [CHECK_WHILE_MKSYSB] : [], file);
    assert.equal(ending(file), 'completed');
  }
  const verifies = eventsOf(f('write-while-mksysb-checked')).flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name === 'verifyTape' ? [e.eventId] : []));
  const streamed = eventsOf(f('write-while-mksysb-checked')).find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'streamRecord4')!.eventId;
  assert.ok(Number(verifies[0]) < Number(streamed) && Number(verifies[1]) > Number(streamed), 'records 1-3 checked before the stream, record 4 after it');
  for (const s of ['schedule-backup', 'schedule-fleet']) {
    assert.ok(startOf(f(s))?.searchAttributes?.indexedFields?.TemporalScheduledById, `${s}: started by a schedule`);
    assert.equal(ending(f(s)), 'completed');
  }
});

test('the recorded histories replay against the current workflow code', async (t) => {
  const replayed = Worker.runReplayHistories(
    options,
    manifest.histories.map((h) => ({ workflowId: h.workflowId, history: histories.get(h.file)! })),
  );
  const results: { file: string; error?: Error }[] = [];
  let i = 0;
  for await (const r of replayed) results.push({ file: manifest.histories[i++]!.file, error: r.error });
  assert.equal(results.length, manifest.histories.length);
  // One subtest per history, so that the report names each one that no longer replays, with the replayer's error.
  for (const r of results) {
    await t.test(r.file, () => {
      if (r.error) throw r.error;
    });
  }
});

test('a history the workflow code does not match fails its replay with a DeterminismViolationError', async () => {
  // The backup's history with its first two image steps recorded the other way round: as if the code had reordered
  // them. The replayer must refuse it, or the test above could not fail.
  const entry = manifest.histories.find((h) => h.file === 'backup-succeeds.json')!;
  const history = readHistory(entry);
  const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
  const [validate, firstImage] = scheduled.map((e) => e.activityTaskScheduledEventAttributes!);
  assert.equal(validate!.activityType!.name, 'resolveBackup');
  [validate!.activityType, firstImage!.activityType] = [firstImage!.activityType, validate!.activityType];
  await assert.rejects(Worker.runReplayHistory(options, history, entry.workflowId), (err: unknown) => {
    assert.ok(err instanceof DeterminismViolationError, `expected a DeterminismViolationError, got ${String(err)}`);
    assert.match(err.message, /resolveBackup|makeImage/);
    return true;
  });
});
