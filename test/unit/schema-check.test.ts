/**
 * The input checked against the inventory: hosts, roles, OS and devices must fit, with exact messages; work
 * folders are settled from the inventory unless the input overrides them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkInputAgainstInventory,
  InputValidationError,
  parseBackupInput,
  parseInventory,
  type Inventory,
} from '../../src/schema';

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddLgXB3hsSbMzFNOr4moMSjpgUr+cN1Al';
const common = { address: '127.0.0.1', user: 'root', key: { agent: '/run/ssh-agent.sock' }, hostKey: HOST_KEY };

const inventory: Inventory = parseInventory({
  hosts: {
    aix01: { ...common, port: 40101, os: 'aix', role: 'source', workFolder: '/home/mksysb' },
    aix02: { ...common, port: 40103, os: 'aix', role: ['source', 'tape'], workFolder: '/export/stage', devices: { rmt0: {}, rmt1: {} } },
    tapesrv: { ...common, port: 40102, os: 'aix', role: 'tape', workFolder: '/backup/stage', devices: { rmt0: { capacityBytes: 4294967296 } } },
    lintape: { ...common, port: 40104, os: 'linux', role: 'tape', workFolder: '/srv/stage', devices: { nst0: {} } },
  },
  groups: { nightly: ['aix01', 'aix02'] },
});

function input(fields: Record<string, unknown> = {}) {
  return parseBackupInput(
    { source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' }, ...fields },
    { workflowId: 'nightly-aix01' },
  );
}

const BAD: { name: string; input: Record<string, unknown>; message: string }[] = [
  {
    name: 'unknown source host',
    input: { source: 'aix99' },
    message: 'source "aix99": is not a host in the inventory (source hosts: aix01, aix02)',
  },
  {
    name: 'source is a tape-only host',
    input: { source: 'tapesrv' },
    message: 'source "tapesrv": is not a source host in the inventory (its role is "tape"); source hosts: aix01, aix02',
  },
  {
    name: 'unknown tape host',
    input: { tape: { host: 'tapesrv2', device: 'rmt0' } },
    message: 'tape.host "tapesrv2": is not a host in the inventory (tape hosts: aix02, tapesrv, lintape)',
  },
  {
    name: 'tape host is a source-only host',
    input: { tape: { host: 'aix01', device: 'rmt0' } },
    message: 'tape.host "aix01": is not a tape host in the inventory (its role is "source"); tape hosts: aix02, tapesrv, lintape',
  },
  {
    name: 'device not in the inventory',
    input: { tape: { host: 'tapesrv', device: 'rmt1' } },
    message: 'tape.device "rmt1": is not a device of tapesrv in the inventory (its devices: rmt0)',
  },
  {
    name: 'Linux device on an AIX tape host',
    input: { tape: { host: 'tapesrv', device: 'nst0' } },
    message: 'tape.device "nst0": tapesrv runs AIX, whose tape devices are named rmt followed by digits (e.g. rmt0)',
  },
  {
    name: 'AIX device on a Linux tape host',
    input: { tape: { host: 'lintape', device: 'rmt0' } },
    message: 'tape.device "rmt0": lintape runs Linux, whose no-rewind tape devices are named nst followed by digits (e.g. nst0)',
  },
  {
    name: 'lsmksysb on a Linux tape host',
    input: { tape: { host: 'lintape', device: 'nst0' }, verify: 'lsmksysb' },
    message: 'verify "lsmksysb": lsmksysb exists only on AIX and lintape runs Linux; use "full" or "none"',
  },
  {
    name: 'a prototype name is not a host',
    input: { source: 'constructor', tape: { host: 'toString', device: 'rmt0' } },
    message:
      'source "constructor": is not a host in the inventory (source hosts: aix01, aix02); ' +
      'tape.host "toString": is not a host in the inventory (tape hosts: aix02, tapesrv, lintape)',
  },
  {
    name: 'both hosts wrong at once',
    input: { source: 'lintape', tape: { host: 'aix01', device: 'rmt0' } },
    message:
      'source "lintape": is not a source host in the inventory (its role is "tape"); source hosts: aix01, aix02; ' +
      'tape.host "aix01": is not a tape host in the inventory (its role is "source"); tape hosts: aix02, tapesrv, lintape',
  },
];

describe('checkInputAgainstInventory refuses input that does not fit the inventory', () => {
  for (const c of BAD) {
    it(c.name, () => {
      const resolved = input(c.input);
      assert.throws(
        () => checkInputAgainstInventory(resolved, inventory),
        (err: unknown) => {
          assert.ok(err instanceof InputValidationError);
          assert.equal(err.message, `invalid backup input: ${c.message}`);
          return true;
        },
      );
    });
  }

  it('lists issues by field', () => {
    try {
      checkInputAgainstInventory(input({ tape: { host: 'lintape', device: 'rmt0' }, verify: 'lsmksysb' }), inventory);
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof InputValidationError);
      assert.deepEqual(
        err.issues.map((i) => i.path),
        ['tape.device', 'verify'],
      );
    }
  });

  it('cuts a long host list short', () => {
    const hosts: Record<string, unknown> = {};
    for (let i = 0; i < 15; i++) hosts[`aix${i}`] = { ...common, os: 'aix', role: 'source', workFolder: '/home/mksysb' };
    hosts.tapesrv = { ...common, os: 'aix', role: 'tape', workFolder: '/t', devices: { rmt0: {} } };
    const big = parseInventory({ hosts });
    assert.throws(
      () => checkInputAgainstInventory(input({ source: 'aix99' }), big),
      {
        message:
          'invalid backup input: source "aix99": is not a host in the inventory (source hosts: ' +
          'aix0, aix1, aix2, aix3, aix4, aix5, aix6, aix7, aix8, aix9, ... (15 in all))',
      },
    );
  });
});

describe('checkInputAgainstInventory settles the work folders', () => {
  it('takes them from the inventory', () => {
    const checked = checkInputAgainstInventory(input(), inventory);
    assert.deepEqual(checked.workFolder, { source: '/home/mksysb', tape: '/backup/stage' });
    assert.equal(checked.backupId, 'nightly-aix01');
  });

  it('lets the input override either', () => {
    assert.deepEqual(checkInputAgainstInventory(input({ workFolder: { tape: '/big/disk' } }), inventory).workFolder, {
      source: '/home/mksysb',
      tape: '/big/disk',
    });
    assert.deepEqual(checkInputAgainstInventory(input({ workFolder: { source: '/var/mksysb' } }), inventory).workFolder, {
      source: '/var/mksysb',
      tape: '/backup/stage',
    });
  });

  it('allows one host as source and tape when it has both roles', () => {
    const checked = checkInputAgainstInventory(input({ source: 'aix02', tape: { host: 'aix02', device: 'rmt1' } }), inventory);
    assert.deepEqual(checked.workFolder, { source: '/export/stage', tape: '/export/stage' });
  });

  it('accepts a Linux tape host with its nst device and full verification', () => {
    const checked = checkInputAgainstInventory(input({ tape: { host: 'lintape', device: 'nst0' } }), inventory);
    assert.deepEqual(checked.tape, { host: 'lintape', device: 'nst0' });
    assert.equal(checked.verify, 'full');
  });

  it('leaves its input unchanged', () => {
    const resolved = input();
    const copy = structuredClone(resolved);
    checkInputAgainstInventory(resolved, inventory);
    assert.deepEqual(resolved, copy);
  });
});
