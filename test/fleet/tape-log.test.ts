/** The command-log reader the fleet tests rely on: it must see two backups sharing a drive when they do. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { CommandLogEntry } from '../../lab/index';
import { overlapping, tapePhases } from './tape-log';

let clock = Date.parse('2026-01-01T00:00:00Z');
const at = () => new Date((clock += 10)).toISOString();
const prep = (): CommandLogEntry => ({ time: at(), command: 'chdev', args: ['-l', 'rmt0', '-a', 'extfm=yes'], exit: 0, device: 'rmt0' });
const status = (): CommandLogEntry => ({ time: at(), command: 'tctl', args: ['-f', '/dev/rmt0.1', 'status'], exit: 0, device: 'rmt0' });
const pos = (): CommandLogEntry => ({ time: at(), command: 'tctl', args: ['-f', '/dev/rmt0', 'rewind'], exit: 0, device: 'rmt0' });
const write = (run: string | null, file: number): CommandLogEntry => ({
  time: at(),
  command: 'dd',
  args: [...(run ? [`if=/home/mksysb/${run}/${file}_x.img`] : []), 'of=/dev/rmt0.1', 'bs=512'],
  exit: 0,
  tape: { device: 'rmt0', op: 'write', file },
});
const ls = (): CommandLogEntry => ({ time: at(), command: 'lsmksysb', args: ['-V', '-f', '/dev/rmt0'], exit: 0, tape: { device: 'rmt0' } });
const other = (): CommandLogEntry => ({ time: at(), command: 'tctl', args: ['-f', '/dev/rmt1', 'rewind'], exit: 0, device: 'rmt1' });
const phase = (run: string) => [status(), prep(), pos(), write(run, 1), pos(), write(run, 2), pos(), write(null, 3), pos(), write(run, 4), ls()];

test('two backups one after the other: two phases, no problems (with or without a status check first)', () => {
  const log = [...phase('a'), other(), ...phase('b').slice(1)];
  const { phases, problems } = tapePhases(log, 'rmt0', ['a', 'b']);
  assert.deepEqual(problems, []);
  assert.deepEqual(phases.map((p) => [p.run, p.files, p.archiveChecks]), [['a', [1, 2, 3, 4], 1], ['b', [1, 2, 3, 4], 1]]);
  assert.deepEqual(overlapping(phases), []);
});

test('a backup preparing the drive while another writes is reported', () => {
  const a = phase('a');
  const b = phase('b');
  // b prepares and writes record 1 between a's record 2 and record 3.
  const log = [...a.slice(0, 6), ...b.slice(0, 4), ...a.slice(6), ...b.slice(4)];
  log.forEach((e, i) => (e.time = new Date(Date.parse('2026-01-02T00:00:00Z') + i * 10).toISOString()));
  const { problems } = tapePhases(log, 'rmt0', ['a', 'b']);
  assert.ok(problems.some((p) => /wrote images of 2 backups/.test(p)), problems.join('\n'));
});

test('another backup verifying inside a phase shows as a second lsmksysb; commands before any preparation are reported', () => {
  const a = phase('a');
  const b = phase('b');
  const log = [pos(), ...a.slice(0, -1), ...b, a[a.length - 1]!];
  log.forEach((e, i) => (e.time = new Date(Date.parse('2026-01-03T00:00:00Z') + i * 10).toISOString()));
  const { phases, problems } = tapePhases(log, 'rmt0', ['a', 'b']);
  assert.ok(problems.some((p) => /before any preparation/.test(p)));
  assert.equal(phases.find((p) => p.run === 'b')!.archiveChecks, 2);
});
