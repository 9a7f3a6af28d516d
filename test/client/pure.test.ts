/**
 * Pure parts of the client and CLI: input from flags, visibility queries, progress steps and human output.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { inputFromOptions } from '../../src/client/cli';
import { listQuery, validateBackupInput, workflowIdFor, backupSummary, type BackupStatus } from '../../src/client/backups';
import { formatBytes, formatStatus, stepsOf, stepLine } from '../../src/client/format';
import { InputValidationError } from '../../src/schema';

test('inputFromOptions: flags build the one-line input; --input JSON is overlaid by flags', () => {
  assert.deepEqual(
    inputFromOptions({ source: 'aix01', tape: 'tapesrv:rmt0', mksysbFlags: 'e,-i -p', record4BlockSize: '262144', verify: 'lsmksysb', overwrite: true, maxAttempts: '1', maxVolumes: '3', writeWhileMksysb: true, waitHours: '0.5' }),
    {
      source: 'aix01',
      tape: { host: 'tapesrv', device: 'rmt0' },
      mksysbFlags: ['-e', '-i', '-p'],
      record4BlockSize: 262144,
      verify: 'lsmksysb',
      overwrite: true,
      retry: { maxAttempts: 1 },
      maxVolumes: 3,
      writeWhileMksysb: true,
      operatorWaitHours: 0.5,
    },
  );
  assert.deepEqual(inputFromOptions({ input: '{"source":"aix02","tape":{"host":"t","device":"rmt1"},"keepStaging":true}', source: 'aix01' }), {
    source: 'aix01',
    tape: { host: 't', device: 'rmt1' },
    keepStaging: true,
  });
  // A value that is not a number goes to the schema as given, so its message names it.
  assert.equal((inputFromOptions({ source: 'a', tape: 'h:rmt0', record4BlockSize: 'big' }) as { record4BlockSize: unknown }).record4BlockSize, 'big');
  assert.throws(() => inputFromOptions({ source: 'a', tape: 'tapesrv' }), /--tape must be HOST:DEVICE/);
  assert.throws(() => inputFromOptions({ source: 'a', tape: ':rmt0' }), /--tape must be HOST:DEVICE/);
  assert.throws(() => inputFromOptions({ input: '[1]' }), /--input must be one JSON object/);
  assert.throws(() => inputFromOptions({ input: '{bad' }), /--input is not valid JSON/);
  assert.throws(() => inputFromOptions({}), /say what to back up/);
});

test('validateBackupInput gives the workflow\'s messages; the default workflow ID is source and UTC date', () => {
  const id = workflowIdFor({ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } }, { date: new Date('2024-06-01T23:30:00-02:00') });
  assert.equal(id, 'mksysb-tape/aix01/2024-06-02');
  assert.equal(validateBackupInput({ source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } }, id).backupId, 'mksysb-tape_aix01_2024-06-02');
  assert.throws(
    () => validateBackupInput({ source: 'aix01', tape: { host: 'tapesrv' } } as never, id),
    (e: unknown) => e instanceof InputValidationError && /tape\.device: is required: the tape device on that host/.test(e.message),
  );
  assert.equal(backupSummary('aix01', { host: 'tapesrv', device: 'rmt0' }), 'mksysb of aix01 to tapesrv:rmt0');
});

test('listQuery: one visibility query from the filters, values quoted', () => {
  assert.equal(
    listQuery({ source: 'aix01', outcome: 'failed' }),
    'WorkflowType = "mksysbToTape" AND MksysbSource = "aix01" AND MksysbOutcome = "failed"',
  );
  assert.equal(
    listQuery({ tapeHost: 'tapesrv', tapeDevice: 'rmt0', stage: 'tape-write', status: 'Running', query: 'StartTime > "2024-01-01T00:00:00Z"' }),
    'WorkflowType = "mksysbToTape" AND MksysbTapeHost = "tapesrv" AND MksysbTapeDevice = "rmt0" AND MksysbStage = "tape-write" ' +
      'AND ExecutionStatus = "Running" AND (StartTime > "2024-01-01T00:00:00Z")',
  );
  assert.equal(listQuery({ source: 'a"b\\c' }), 'WorkflowType = "mksysbToTape" AND MksysbSource = "a\\"b\\\\c"');
});

const running: BackupStatus = {
  workflowId: 'mksysb-tape/aix01/2024-06-01',
  runId: 'r1',
  status: 'RUNNING',
  startTime: new Date('2024-06-01T02:00:00Z'),
  summary: 'mksysb of aix01 to tapesrv:rmt0',
  source: 'aix01',
  tape: { host: 'tapesrv', device: 'rmt0' },
  stage: 'images',
  outcome: 'running',
  progress: {
    backupId: 'b',
    stage: 'images',
    outcome: 'running',
    record: 4,
    attempt: 1,
    activity: 'mksysb -i -p on aix01; moving the boot and install images meanwhile',
    recordsWritten: [],
  },
  pending: [
    { activityType: 'makeImage', activityId: '3', state: 'STARTED', attempt: 1, maximumAttempts: 3, heartbeat: { stage: 'images', record: 4, elapsedMs: 12_000 } },
    { activityType: 'transferImage', activityId: '4', state: 'STARTED', attempt: 2, maximumAttempts: 5, heartbeat: { stage: 'transfer', record: 1, bytesDone: 512 * 1024, bytesTotal: 1024 * 1024 }, lastFailure: 'connection lost' },
  ],
};

test('stepsOf: one step per stage and record, from the query and every pending activity', () => {
  const steps = stepsOf(running);
  assert.deepEqual(steps.map((s) => s.key), ['images:4', 'transfer:1']);
  assert.equal(stepLine(steps[0]!), 'make image 4/4  running 12 s');
  assert.equal(stepLine(steps[1]!), 'transfer 1/4  512 KiB / 1.0 MiB (50%), attempt 2');
  assert.deepEqual(stepsOf({ ...running, progress: { ...running.progress!, stage: 'done', outcome: 'succeeded' }, pending: [] }), []);
});

test('formatStatus: a waiting run says why, until when, and the commands that answer it', () => {
  const waiting: BackupStatus = {
    ...running,
    outcome: 'waiting',
    pending: [],
    progress: {
      ...running.progress!,
      stage: 'tape-write',
      outcome: 'waiting',
      activity: 'waiting for an operator after the tape write (record 4) failed',
      waiting: { stage: 'tape-write', record: 4, reason: 'dd: write error: I/O error', until: '2024-06-02T02:00:00.000Z' },
      recordsWritten: [1, 2, 3],
    },
  };
  const text = formatStatus(waiting);
  assert.match(text, /status: {2}running, outcome waiting, stage tape-write/);
  assert.match(text, /records written: 1, 2, 3/);
  assert.match(text, /WAITING for an operator until 2024-06-02T02:00:00.000Z: dd: write error: I\/O error/);
  assert.match(text, /mksysb-tape retry mksysb-tape\/aix01\/2024-06-01 \[--from-record N\]/);
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(2.1 * 1024 ** 3), '2.1 GiB');
  const cartridge = formatStatus({
    ...waiting,
    progress: {
      ...waiting.progress!,
      waiting: { stage: 'tape-write', record: 4, for: 'cartridge', volume: 2, volumesLeft: 1, reason: 'load the cartridge for volume 2 into tapesrv:rmt0 (1 more to come after it)', until: '2024-06-02T02:00:00.000Z' },
    },
  });
  assert.match(cartridge, /WAITING for the cartridge of volume 2 until 2024-06-02T02:00:00.000Z: load the cartridge for volume 2 into tapesrv:rmt0/);
  assert.match(cartridge, /answer with: mksysb-tape volume-loaded mksysb-tape\/aix01\/2024-06-01 --volume 2 {3}or {3}mksysb-tape abort/);
  assert.doesNotMatch(cartridge, /mksysb-tape retry/, 'a cartridge wait is not answered with retry');
});
