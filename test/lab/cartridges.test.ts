/**
 * Cartridges of a lab drive: loading and unloading by hand (API, CLI, tctl/mt offline), a sequential autoloader, and
 * the end of the medium as AIX's and Linux's tape drivers report it (short count, then ENXIO or ENOSPC), checked
 * with Hercules' tapemap and hetget.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startLab, type Lab } from '../../lab/index';
import { execFileP, hetget, ok, tapemap } from './helpers';

let lab: Lab;
let tmp: string;
const W = '/home/mksysb';
/** AWS bytes of one 512-byte block: the data and its 6-byte header. */
const BLOCK_AWS = 518;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-carts-'));
  lab = await startLab({
    dir: path.join(tmp, 'lab'),
    sources: ['aix01'],
    tapeHosts: [
      { name: 'tapesrv', os: 'aix', drives: 1, capacityBytes: 1 << 30 },
      { name: 'lnx', os: 'linux', drives: 1, capacityBytes: 1 << 30 },
    ],
  });
  for (const h of ['tapesrv', 'lnx']) fs.writeFileSync(path.join(lab.host(h).root, W, 'data.img'), crypto.randomBytes(64 * 1024));
});
after(async () => {
  await lab?.down();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const cli = (...args: string[]) => execFileP(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../lab/cli.ts'), ...args, '--dir', lab.dir]);
const hostFile = (host: string, name: string) => fs.readFileSync(path.join(lab.host(host).root, W, name));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('loading and unloading', () => {
  test('the lab starts with one cartridge per drive, at the AWS path it always had', () => {
    const [c, ...rest] = lab.cartridges('tapesrv', 'rmt0');
    assert.deepEqual(rest, []);
    assert.deepEqual(c, { name: 'rmt0', aws: lab.host('tapesrv').devices!.rmt0!.aws, capacityBytes: 1 << 30, bytes: 0, loaded: true });
    assert.equal(lab.tapeState('tapesrv', 'rmt0').cartridge, 'rmt0');
  });

  test('tctl offline unloads: the drive is not ready, clearing faults does not reload, load does; each cartridge keeps its data', async () => {
    await ok(lab, 'tapesrv', `chdev -l rmt0 -a block_size=512 && dd if=${W}/data.img of=/dev/rmt0.1 bs=512 && tctl -f /dev/rmt0 offline`);
    const st = lab.tapeState('tapesrv', 'rmt0');
    assert.equal(st.loaded, false);
    for (const c of ['tctl -f /dev/rmt0 status', 'tctl -f /dev/rmt0 rewind', `dd if=${W}/data.img of=/dev/rmt0.1 bs=512`, 'dd if=/dev/rmt0 bs=512 count=1']) {
      const r = await lab.exec('tapesrv', c);
      assert.notEqual(r.code, 0, c);
      assert.match(r.stderr, /The device is not ready for operation/, c);
    }
    await lab.clearFaults('tapesrv');
    assert.equal(lab.tapeState('tapesrv', 'rmt0').loaded, false, 'an operator\'s eject is not undone by clearing faults');

    const blank = lab.load('tapesrv', 'rmt0', { capacityBytes: 100 * BLOCK_AWS });
    assert.equal(blank.name, 'rmt0-2');
    assert.equal(fs.statSync(blank.aws).size, 0);
    assert.equal(lab.tapeState('tapesrv', 'rmt0').cartridge, 'rmt0-2');
    await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 status');
    await ok(lab, 'tapesrv', `dd if=${W}/data.img of=/dev/rmt0.1 bs=4096 count=2`);
    assert.deepEqual((await tapemap(blank.aws)).files.map((f) => f.blocks), [16]);

    // The first cartridge, loaded again, is as it was, at the beginning of its tape.
    lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
    const back = lab.tapeState('tapesrv', 'rmt0');
    assert.deepEqual([back.cartridge, back.offset, back.marks.length], ['rmt0', 0, 1]);
    assert.ok((await hetget(lab.host('tapesrv').devices!.rmt0!.aws, 1, tmp)).equals(hostFile('tapesrv', 'data.img')));
    assert.deepEqual(
      lab.cartridges('tapesrv', 'rmt0').map((c) => [c.name, c.loaded, c.capacityBytes, c.bytes]),
      [['rmt0', true, 1 << 30, 128 * BLOCK_AWS + 6], ['rmt0-2', false, 100 * BLOCK_AWS, 16 * BLOCK_AWS + 6]],
    );
    assert.throws(() => lab.load('tapesrv', 'nst0'), /no tape drive nst0/);
    lab.unload('tapesrv', 'rmt0');
    assert.match((await lab.exec('tapesrv', 'tctl -f /dev/rmt0 status')).stderr, /not ready/, 'unload is an eject');
    await cli('load', 'tapesrv', 'rmt0', 'rmt0');
    await cli('unload', 'tapesrv', 'rmt0');
    assert.equal(lab.tapeState('tapesrv', 'rmt0').loaded, false);
    lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  });

  test('CLI: load --new prints the AWS file, load NAME loads one of the library, status lists every cartridge', async () => {
    const made = (await cli('load', 'tapesrv', 'rmt0', '--new', '--capacity', '123456')).stdout.trim();
    assert.equal(made, path.join(lab.host('tapesrv').root, 'var/lab/tape/rmt0-3.aws'));
    assert.ok(fs.existsSync(made));
    const status = JSON.parse((await cli('status')).stdout) as { hosts: Array<{ name: string; tapes: Record<string, { cartridge: string; cartridges: Array<{ name: string; aws: string; capacityBytes: number; loaded: boolean }> }> }> };
    const rmt0 = status.hosts.find((h) => h.name === 'tapesrv')!.tapes.rmt0!;
    assert.equal(rmt0.cartridge, 'rmt0-3');
    assert.deepEqual(rmt0.cartridges.map((c) => [c.name, c.loaded]), [['rmt0', false], ['rmt0-2', false], ['rmt0-3', true]]);
    assert.equal(rmt0.cartridges[2]!.capacityBytes, 123456);
    assert.equal((await cli('load', 'tapesrv', 'rmt0', 'rmt0')).stdout.trim(), lab.host('tapesrv').devices!.rmt0!.aws);
    await assert.rejects(cli('load', 'tapesrv', 'rmt0', 'nosuch'), /no cartridge "nosuch"/);
    await assert.rejects(cli('load', 'tapesrv', 'rmt0'), /NAME or --new/);
    assert.equal(lab.tapeState('tapesrv', 'rmt0').cartridge, 'rmt0');
  });

  test('Linux: mt offline and eject unload (mt status: DR_OPEN); load brings a cartridge back', async () => {
    for (const how of ['offline', 'rewoffl', 'eject']) {
      await ok(lab, 'lnx', `mt -f /dev/nst0 ${how}`);
      assert.match(await ok(lab, 'lnx', 'mt -f /dev/nst0 status'), /DR_OPEN/, how);
      assert.match((await lab.exec('lnx', 'dd if=/dev/nst0 bs=512 count=1')).stderr, /No medium found/, how);
      lab.load('lnx', 'nst0', { name: 'nst0' });
      assert.match(await ok(lab, 'lnx', 'mt -f /dev/nst0 status'), /ONLINE/, how);
    }
  });
});

describe('sequential autoloader', () => {
  test('after an unload the next blank cartridge is ready after the delay, not before; an empty magazine stays empty', async () => {
    const { magazine } = lab.setAutoloader('tapesrv', 'rmt0', { cartridges: 2, capacityBytes: 50 * BLOCK_AWS, loadSeconds: 1.5 });
    assert.deepEqual(magazine, ['rmt0-4', 'rmt0-5']);
    assert.equal(lab.tapeState('tapesrv', 'rmt0').cartridge, 'rmt0', 'a loaded drive keeps its cartridge');
    for (const next of magazine) {
      // The lab starts the delay when its tctl ran, some time after the exec was sent and before it returned: a
      // status that returned within 1.4 s of sending the unload ran before the delay ended, and 1.6 s after the
      // unload returned is past it, however long ssh took to start either command.
      const sent = Date.now();
      await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 offline');
      const unloaded = Date.now();
      const early = await lab.exec('tapesrv', 'tctl -f /dev/rmt0 status');
      if (Date.now() - sent < 1400) assert.match(early.stderr, /not ready/, `${next}: not ready before the delay`);
      await sleep(1600 - (Date.now() - unloaded));
      await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 status');
      const st = lab.tapeState('tapesrv', 'rmt0');
      assert.deepEqual([st.cartridge, st.offset, st.size, st.capacityBytes], [next, 0, 0, 50 * BLOCK_AWS]);
    }
    assert.deepEqual(lab.autoloader('tapesrv', 'rmt0')?.magazine, []);
    await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 offline');
    await sleep(1700);
    assert.match((await lab.exec('tapesrv', 'tctl -f /dev/rmt0 status')).stderr, /not ready/, 'the magazine is empty');
    lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  });

  test('CLI: autoloader with --load-seconds; status shows it; an empty magazine loads nothing', async () => {
    const r = JSON.parse((await cli('autoloader', 'lnx', 'nst0', '--cartridges', '1', '--capacity', '99999', '--load-seconds', '0.2')).stdout) as { magazine: string[] };
    assert.deepEqual(r.magazine, ['nst0-2']);
    const status = JSON.parse((await cli('status')).stdout) as { hosts: Array<{ name: string; tapes: Record<string, { autoloader: { magazine: string[]; loadSeconds: number } }> }> };
    assert.deepEqual(status.hosts.find((h) => h.name === 'lnx')!.tapes.nst0!.autoloader, { magazine: ['nst0-2'], loadSeconds: 0.2 });
    await ok(lab, 'lnx', 'mt -f /dev/nst0 offline');
    await sleep(300);
    assert.match(await ok(lab, 'lnx', 'mt -f /dev/nst0 status'), /ONLINE/);
    assert.equal(lab.tapeState('lnx', 'nst0').cartridge, 'nst0-2');
    await cli('autoloader', 'lnx', 'nst0', '--cartridges', '0');
    await ok(lab, 'lnx', 'mt -f /dev/nst0 offline');
    await sleep(300);
    assert.match(await ok(lab, 'lnx', 'mt -f /dev/nst0 status'), /DR_OPEN/);
    lab.load('lnx', 'nst0', { name: 'nst0' });
  });
});

describe('end of medium', () => {
  test('AIX: the write that reaches the end writes the whole blocks that fit (short count), dd fails with ENXIO; the filemark is written', async () => {
    // Room for 20 blocks of 512: dd's third write of 8 blocks puts 4 on tape.
    const c = lab.load('tapesrv', 'rmt0', { capacityBytes: 20 * BLOCK_AWS + 100 });
    const r = await lab.exec('tapesrv', `chdev -l rmt0 -a block_size=512 && dd if=${W}/data.img of=/dev/rmt0.1 bs=4096`);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr, 'dd: 0511-053 The write failed.\n: There is a request to a device or address that does not exist.\n3+0 records in\n2+1 records out\n');
    const log = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd').at(-1)!;
    assert.deepEqual([(log.tape as { bytes: number }).bytes, (log.tape as { error: string }).error], [20 * 512, 'ENXIO']);
    const map = await tapemap(c.aws);
    assert.deepEqual(map.files.map((f) => [f.blocks, f.minBlock, f.maxBlock]), [[20, 512, 512]], map.raw);
    assert.ok((await hetget(c.aws, 1, tmp)).equals(hostFile('tapesrv', 'data.img').subarray(0, 20 * 512)));
    // Read back, the bytes that reached the cartridge are the count to go on from.
    assert.equal((await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind && dd if=/dev/rmt0.1 bs=512 | wc -c')).trim(), String(20 * 512));
    // At the end of the medium every later write fails at once.
    const again = await lab.exec('tapesrv', `tctl -f /dev/rmt0.1 fsf 1; dd if=${W}/data.img of=/dev/rmt0.1 bs=512`);
    assert.match(again.stderr, /There is a request to a device or address that does not exist\.\n1\+0 records in\n0\+0 records out\n$/);
    // Rewound and written from the start, the cartridge takes data again.
    await ok(lab, 'tapesrv', `tctl -f /dev/rmt0 rewind && dd if=${W}/data.img of=/dev/rmt0.1 bs=512 count=4`);
  });

  test('AIX: a fixed-block pipe re-blocked by ibs=/obs= ends as the short write that fits', async () => {
    const c = lab.load('tapesrv', 'rmt0', { capacityBytes: 10 * BLOCK_AWS });
    // Input arriving in pieces of odd sizes: dd gathers it into whole obs blocks.
    const r = await lab.exec('tapesrv', `( head -c 1000 ${W}/data.img; sleep 0.2; tail -c +1001 ${W}/data.img ) | dd ibs=2048 obs=2048 of=/dev/rmt0.1`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\n3\+0 records in\n2\+1 records out\n$/);
    assert.ok((await hetget(c.aws, 1, tmp)).equals(hostFile('tapesrv', 'data.img').subarray(0, 10 * 512)));
  });

  test('dd ibs=/obs= from a pipe gathers short reads into whole obs blocks', async () => {
    const c = lab.load('tapesrv', 'rmt0');
    await ok(lab, 'tapesrv', `chdev -l rmt0 -a block_size=0 && ( head -c 1000 ${W}/data.img; sleep 0.2; tail -c +1001 ${W}/data.img ) | dd ibs=512 obs=4096 of=/dev/rmt0.1`);
    const map = await tapemap(c.aws);
    assert.deepEqual(map.files.map((f) => [f.blocks, f.minBlock, f.maxBlock]), [[16, 4096, 4096]], map.raw);
    assert.ok((await hetget(c.aws, 1, tmp)).equals(hostFile('tapesrv', 'data.img')));
  });

  test('Linux: past the early warning the write fails with ENOSPC after the blocks that fit', async () => {
    const c = lab.load('lnx', 'nst0', { capacityBytes: 20 * BLOCK_AWS + 100 });
    const r = await lab.exec('lnx', `mt -f /dev/nst0 setblk 512 && dd if=${W}/data.img of=/dev/nst0 bs=4096`);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "dd: error writing '/dev/nst0': No space left on device\n3+0 records in\n2+1 records out\n10240 bytes copied\n");
    const map = await tapemap(c.aws);
    assert.deepEqual(map.files.map((f) => f.blocks), [20], map.raw);
    assert.ok((await hetget(c.aws, 1, tmp)).equals(hostFile('lnx', 'data.img').subarray(0, 20 * 512)));
  });
});
