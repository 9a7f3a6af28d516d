/** The fleet's input check against the inventory (pure code, no Temporal). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { parseInventory } from '../../src/schema';
import { checkFleet } from '../../src/activities/fleet';
import { backupTapeBytes as tapeBytes } from '../../src/shared/fleet';

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddLgXB3hsSbMzFNOr4moMSjpgUr+cN1Al';
const common = { address: '127.0.0.1', user: 'root', key: { agent: '/run/ssh-agent.sock' }, hostKey: HOST_KEY, workFolder: '/home/mksysb' };
const inv = parseInventory({
  hosts: {
    aix01: { ...common, os: 'aix', role: 'source' },
    aix02: { ...common, os: 'aix', role: 'source' },
    aix03: { ...common, os: 'aix', role: 'source' },
    tapesrv: { ...common, os: 'aix', role: 'tape', devices: { rmt0: {}, rmt1: {} } },
  },
  groups: { nightly: ['aix02', 'aix01'] },
});

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, true);
    assert.equal(err.type, 'InvalidFleetInput');
    return err.message;
  }
  assert.fail('expected the fleet input to be refused');
}

test('a group resolves to its members in the inventory order given; drives are kept as given', () => {
  const drives = [{ host: 'tapesrv', device: 'rmt1' }, { host: 'tapesrv', device: 'rmt0' }];
  assert.deepEqual(checkFleet(inv, { group: 'nightly', drives }), { sources: ['aix02', 'aix01'], drives });
  assert.deepEqual(checkFleet(inv, { sources: ['aix03'], drives }).sources, ['aix03']);
});

test('every problem is named in one message', () => {
  const msg = problems(() =>
    checkFleet(inv, {
      sources: ['aix01', 'aix01', 'tapesrv', 'nosuch'],
      drives: [{ host: 'tapesrv', device: 'rmt7' }, { host: 'aix01', device: 'rmt0' }, { host: 'tapesrv', device: 'rmt0' }, { host: 'tapesrv', device: 'rmt0' }],
    }),
  );
  assert.match(msg, /sources\[1\] "aix01" is listed twice/);
  assert.match(msg, /sources\[2\] "tapesrv" is not a host with role "source"/);
  assert.match(msg, /sources\[3\] "nosuch" is not a host in the inventory/);
  assert.match(msg, /drives\[0\]\.device "rmt7" is not a device of tapesrv \(devices: rmt0, rmt1\)/);
  assert.match(msg, /drives\[1\]\.host "aix01" is not a host with role "tape"/);
  assert.match(msg, /drives\[3\] tapesrv\/rmt0 is listed twice/);
});

test('sources or group, exactly one; at least one drive; a known group', () => {
  const drives = [{ host: 'tapesrv', device: 'rmt0' }];
  assert.match(problems(() => checkFleet(inv, { drives })), /give "sources" .* or "group"/);
  assert.match(problems(() => checkFleet(inv, { sources: ['aix01'], group: 'nightly', drives })), /either "sources" or "group", not both/);
  assert.match(problems(() => checkFleet(inv, { sources: [], drives })), /"sources" must list at least one host/);
  assert.match(problems(() => checkFleet(inv, { group: 'weekly', drives })), /group "weekly" is not in the inventory \(groups: nightly\)/);
  assert.match(problems(() => checkFleet(inv, { sources: ['aix01'], drives: [] })), /"drives" must list at least one drive/);
});

test('tape bytes of a result are the sum of its records', () => {
  assert.equal(tapeBytes({ records: [{ bytes: 512 }, { bytes: 1024 }, { bytes: 512 }, { bytes: 4096 }] as never }), 6144);
});
