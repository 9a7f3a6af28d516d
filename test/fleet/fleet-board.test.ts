/** The fleet's board across a continue-as-new (pure code, no Temporal): what one run carries, the next one restores. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FleetBoard } from '../../src/workflows/fleet-board';
import type { Drive } from '../../src/shared/fleet';

const DRIVES: Drive[] = [{ host: 'tapesrv', device: 'rmt0' }, { host: 'tapesrv', device: 'rmt1' }];
const LIMITS = { perTapeHost: { tapesrv: 2 }, total: null };

/** A board in the middle of a night: two done (one failed), two running, two queued. */
function midNight(): FleetBoard {
  const b = new FleetBoard('mksysb-fleet/n', DRIVES, LIMITS);
  for (const s of ['aix01', 'aix02', 'aix03', 'aix04', 'aix05', 'aix06']) b.queue(s, `mksysb-fleet/n/${s}`, s === 'aix01' ? 4096 : undefined);
  const set = (s: string, fields: object) => Object.assign(b.entries.get(s)!, fields);
  set('aix01', { state: 'ok', drive: DRIVES[0], runId: 'r1', bytes: 9000, startedAt: '2026-12-01T01:00:00.000Z', finishedAt: '2026-12-01T01:10:00.500Z', seconds: 600.5 });
  set('aix02', { state: 'failed', drive: DRIVES[1], runId: 'r2', error: 'mksysb: 0512-005', startedAt: '2026-12-01T01:00:01.000Z', finishedAt: '2026-12-01T01:02:01.000Z', seconds: 120 });
  set('aix03', { state: 'running', drive: DRIVES[0], runId: 'r3', startedAt: '2026-12-01T01:10:01.000Z' });
  set('aix04', { state: 'running', drive: DRIVES[1], runId: 'r4', startedAt: '2026-12-01T01:02:02.000Z' });
  b.startedOrder.push('aix01', 'aix02', 'aix03', 'aix04');
  for (const d of [DRIVES[0]!, DRIVES[1]!, DRIVES[0]!, DRIVES[1]!]) b.take(d);
  b.release(DRIVES[0]!);
  b.release(DRIVES[1]!);
  return b;
}

test('a restored board shows every source as the carrying run did, and numbers its run one higher', () => {
  const before = midNight();
  const carry = before.carry('2026-12-01T01:00:00.000Z');
  const after = FleetBoard.restore('mksysb-fleet/n', JSON.parse(JSON.stringify(carry)) as typeof carry);
  // Only a running child's run ID is carried: the ended ones' are not needed again.
  const ended = (st: ReturnType<FleetBoard['status']>) => ({ ...st, sources: st.sources.map((e) => (e.state === 'running' ? e : { ...e, runId: undefined })) });
  assert.deepEqual(ended(after.status()), ended({ ...before.status(), run: 2 }));
  assert.deepEqual(after.startedOrder, before.startedOrder);
  assert.deepEqual(after.queued(), ['aix05', 'aix06']);
  assert.deepEqual({ running: after.running, finished: after.finished }, { running: 2, finished: 2 });
  // The carried children still hold their drives: the per-host limit of 2 leaves no drive for a third.
  assert.equal(after.nextDrive(), undefined);
  after.release(DRIVES[1]!);
  assert.deepEqual(after.nextDrive(), DRIVES[1]);
});

test('the carry leaves out what the next run can derive: each entry is a few dozen bytes', () => {
  const carry = midNight().carry('2026-12-01T01:00:00.000Z');
  assert.ok(carry.entries.every((p) => !('workflowId' in p)));
  assert.deepEqual(carry.entries[4], { s: 'aix05', st: 'queued' });
  assert.deepEqual(carry.entries[2], { s: 'aix03', st: 'running', d: 0, r: 'r3', t0: Date.parse('2026-12-01T01:10:01.000Z') });
  assert.deepEqual(carry.entries[0], { s: 'aix01', st: 'ok', d: 0, b: 9000, x: 4096, t0: Date.parse('2026-12-01T01:00:00.000Z'), t1: Date.parse('2026-12-01T01:10:00.500Z') });
});

test('a child may hold its drive through mksysb only alone on the drive, and then when nothing is queued or its size is known', () => {
  const b = new FleetBoard('mksysb-fleet/w', DRIVES, LIMITS);
  // Longest first: the never-backed-up source first, then the known sizes, largest first.
  b.queue('aix09', 'mksysb-fleet/w/aix09', undefined);
  b.queue('aix01', 'mksysb-fleet/w/aix01', 3 << 20);
  b.queue('aix02', 'mksysb-fleet/w/aix02', 1 << 20);
  const [d0, d1] = [DRIVES[0]!, DRIVES[1]!];
  // Never backed up, others queued: it might be shorter than what follows it onto the drive.
  assert.equal(b.holdThroughMksysb('aix09', d0, 2), undefined);
  b.take(d0);
  // Known size, alone on its drive: nothing that can follow it is larger.
  assert.equal(b.holdThroughMksysb('aix01', d1, 1), 'longest');
  b.take(d1);
  // A second child on a drive never holds it through mksysb, even with nothing queued.
  assert.equal(b.holdThroughMksysb('aix02', d0, 0), undefined);
  b.release(d0);
  // Alone, nothing queued: the drive is free whatever its size.
  assert.equal(b.holdThroughMksysb('aix02', d0, 0), 'free');
  assert.equal(b.holdThroughMksysb('aix09', d0, 0), 'free');
});
