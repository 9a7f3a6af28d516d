/**
 * The drive lock on a real Temporal dev server and a real worker, through `withDriveLock` in the `driveLockProbe`
 * workflow (no tape involved: the probe only holds the drive for a while and reports when it held it).
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { startProjectWorker, testTemporal, type TestTemporal } from '../helpers/temporal';
import type { MksysbTapeConfig } from '../../temporal.config';
import { driveLockStateQuery, driveLockWorkflowId, type DriveLockState } from '../../src/shared/drive-lock';
import type { DriveLockProbeInput, DriveLockProbeResult } from '../../src/workflows/drive-lock';

let t: TestTemporal;
let config: MksysbTapeConfig;

before(async () => {
  t = await testTemporal();
  config = t.config({ inventoryPath: '/nonexistent/inventory.json' });
  await startProjectWorker({ config });
});

function drive() {
  return { host: 'tapesrv', device: `rmt${randomUUID().slice(0, 8)}` };
}

function startProbe(input: DriveLockProbeInput): Promise<WorkflowHandle> {
  return t.client.workflow.start('driveLockProbe', {
    taskQueue: config.taskQueue,
    workflowId: `probe-${input.label ?? ''}-${randomUUID()}`,
    args: [input],
  });
}

async function lockState(d: { host: string; device: string }): Promise<DriveLockState> {
  return await t.client.workflow.getHandle(driveLockWorkflowId(d, config.taskQueue)).query(driveLockStateQuery);
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await delay(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

function assertDisjoint(results: DriveLockProbeResult[]): void {
  const spans = results.map((r) => [Date.parse(r.acquiredAt), Date.parse(r.releasedAt), r.label] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    assert.ok(spans[i]![0] >= spans[i - 1]![1], `${spans[i]![2]} acquired before ${spans[i - 1]![2]} released: ${JSON.stringify(spans)}`);
  }
}

test('the lock workflow ID is drive-lock/<host>/<device> on the production queue, scoped by queue elsewhere', () => {
  assert.equal(driveLockWorkflowId({ host: 'tapesrv', device: 'rmt0' }, 'mksysb-tape'), 'drive-lock/tapesrv/rmt0');
  assert.equal(driveLockWorkflowId({ host: 'tapesrv', device: 'rmt0' }, 'test-q'), 'drive-lock/test-q/tapesrv/rmt0');
});

test('four workflows started at once on one drive hold it one after another, in the order they were queued', async () => {
  const d = drive();
  // Each holds it 3 s, so that the moment with one holder and three waiters lasts, even on a loaded machine.
  const handles = await Promise.all(['a', 'b', 'c', 'd'].map((label) => startProbe({ drive: d, holdSeconds: 3, label })));
  // While the first holds the drive, the query shows it and the three others queued.
  const busy = await waitFor('a holder and three waiters', async () => {
    const s = await lockState(d);
    return s.holder && s.queue.length === 3 ? s : undefined;
  }, 90_000);
  const queuedIds = [busy.holder!.workflowId, ...busy.queue.map((q) => q.workflowId)];
  assert.deepEqual([...queuedIds].sort(), handles.map((h) => h.workflowId).sort());

  const results = (await Promise.all(handles.map((h) => h.result()))) as DriveLockProbeResult[];
  assertDisjoint(results);
  const byId = new Map(handles.map((h, i) => [h.workflowId, results[i]!]));
  const acquiredInOrder = queuedIds.map((id) => Date.parse(byId.get(id)!.acquiredAt));
  assert.deepEqual(acquiredInOrder, [...acquiredInOrder].sort((a, b) => a - b), 'granted in FIFO order');
  for (const r of results) assert.ok(Date.parse(r.releasedAt) - Date.parse(r.acquiredAt) >= 3000);

  const after = await waitFor('the drive free again', async () => {
    const s = await lockState(d);
    return s.holder === null && s.recent.length === 4 ? s : undefined;
  });
  assert.deepEqual(after.queue, []);
  assert.deepEqual(after.recent.map((r) => r.end), ['released', 'released', 'released', 'released']);
  assert.deepEqual(after.recent.map((r) => r.workflowId), queuedIds);
});

test('a holder that is terminated releases the drive to the next waiter', async () => {
  const d = drive();
  const holder = await startProbe({ drive: d, holdSeconds: 3600, label: 'holder', holderCheckSeconds: 1 });
  await waitFor('the holder to hold the drive', async () => ((await lockState(d)).holder?.workflowId === holder.workflowId ? true : undefined));
  const waiter = await startProbe({ drive: d, holdSeconds: 1, label: 'waiter' });
  await waitFor('the waiter queued', async () => ((await lockState(d)).queue.length === 1 ? true : undefined));
  // The waiter was told who holds the drive (withDriveLock's onWait), and says so in its details.
  await waitFor('the waiter to name the holder', async () => {
    const meta = await waiter.query<{ currentDetails: string }>('__temporal_workflow_metadata');
    return meta.currentDetails.includes(`held by ${holder.workflowId}`) ? true : undefined;
  });

  const terminatedAt = Date.now();
  await holder.terminate('test: holder killed');
  const r = (await waiter.result()) as DriveLockProbeResult;
  assert.equal(r.waitedFor, holder.workflowId);
  const handover = Date.parse(r.acquiredAt) - terminatedAt;
  assert.ok(handover < 10_000, `the drive passed on ${handover} ms after the holder was terminated (check every 1 s)`);

  const s = await waitFor('the waiter released', async () => {
    const st = await lockState(d);
    return st.recent.length === 2 ? st : undefined;
  });
  assert.equal(s.recent[0]!.workflowId, holder.workflowId);
  assert.equal(s.recent[0]!.end, 'holder-gone');
  assert.match(s.recent[0]!.detail ?? '', /TERMINATED/);
  assert.equal(s.recent[1]!.end, 'released');
});

test('a cancelled waiter leaves the queue and a cancelled holder releases the drive', async () => {
  const d = drive();
  const holder = await startProbe({ drive: d, holdSeconds: 3600, label: 'holder' });
  await waitFor('the holder to hold the drive', async () => ((await lockState(d)).holder?.workflowId === holder.workflowId ? true : undefined));
  const cancelled = await startProbe({ drive: d, holdSeconds: 1, label: 'cancelled' });
  const third = await startProbe({ drive: d, holdSeconds: 1, label: 'third' });
  await waitFor('two waiters', async () => ((await lockState(d)).queue.length === 2 ? true : undefined));

  await cancelled.cancel();
  await assert.rejects(cancelled.result(), WorkflowFailedError);
  const s1 = await waitFor('the cancelled waiter gone from the queue', async () => {
    const s = await lockState(d);
    return s.queue.length === 1 ? s : undefined;
  });
  assert.equal(s1.queue[0]!.workflowId, third.workflowId);
  assert.equal(s1.holder?.workflowId, holder.workflowId);

  await holder.cancel();
  await assert.rejects(holder.result(), WorkflowFailedError);
  await third.result();
  const s2 = await waitFor('all released', async () => {
    const s = await lockState(d);
    return s.recent.length === 2 && s.holder === null ? s : undefined;
  });
  assert.deepEqual(s2.recent.map((x) => [x.workflowId, x.end]), [
    [holder.workflowId, 'released'],
    [third.workflowId, 'released'],
  ]);
});

test('the lock continues as new before its history grows large and keeps holder, queue and count', async () => {
  const d = drive();
  const n = 8;
  const handles: WorkflowHandle[] = [];
  for (let i = 0; i < n; i++) {
    handles.push(await startProbe({ drive: d, holdSeconds: 0.3, label: `p${i}`, maxHistoryEvents: 25 }));
  }
  const results = (await Promise.all(handles.map((h) => h.result()))) as DriveLockProbeResult[];
  assertDisjoint(results);
  const s = await waitFor('all tenures recorded', async () => {
    const st = await lockState(d);
    return st.grants === n && st.holder === null ? st : undefined;
  });
  assert.ok(s.generation > 2, `continued as new ${s.generation - 1} times`);
  assert.equal(s.recent.length, n);
  const desc = await t.client.workflow.getHandle(driveLockWorkflowId(d, config.taskQueue)).describe();
  assert.ok(desc.historyLength < 60, `history of the current run is ${desc.historyLength} events`);
});
