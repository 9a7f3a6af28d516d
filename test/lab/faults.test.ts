/** Each fault kind of the lab fires, deterministically, and is cleared when it fired (unless `always`). */
import { after, before, beforeEach, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, type Lab } from '../../lab/index';
import { parseFaultSpec } from '../../lab/faults';
import { ok, sshSpawn } from './helpers';

let lab: Lab;
const W = '/home/mksysb';

before(async () => {
  lab = await startLab({ sources: ['aix01'], tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 1, capacityBytes: 1 << 30 }] });
  fs.writeFileSync(path.join(lab.host('tapesrv').root, W, 'rec.img'), crypto.randomBytes(512 * 64));
  fs.writeFileSync(path.join(lab.host('aix01').root, W, 'data.bin'), crypto.randomBytes(1 << 20));
});
after(async () => {
  await lab?.down();
});
beforeEach(async () => {
  await lab.clearFaults();
});

async function toFile4(): Promise<void> {
  await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 erase && chdev -l rmt0 -a block_size=512');
  for (let i = 0; i < 3; i++) await ok(lab, 'tapesrv', `dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
}

test('SPEC syntax: good specs parse, bad ones are refused with a reason', () => {
  assert.deepEqual(parseFaultSpec('write-fail file=4 nth=2 always'), { id: 0, kind: 'write-fail', file: 4, nth: 2, device: undefined, always: true });
  assert.deepEqual(parseFaultSpec('exit command=mksysb code=2 message="0512-004 mksysb: it failed"'), {
    id: 0, kind: 'exit', command: 'mksysb', code: 2, message: '0512-004 mksysb: it failed', always: false,
  });
  assert.throws(() => parseFaultSpec('write-fail'), /file=/);
  assert.throws(() => parseFaultSpec('explode'), /unknown fault kind/);
  assert.throws(() => parseFaultSpec('eom bytes=12 colour=red'), /unknown key colour/);
  assert.throws(() => parseFaultSpec('drop-connection after=10 command=ls'), /cat, tail or dd/);
});

test('write-fail file=4 nth=1 fails the first write to tape file 4 once', async () => {
  await toFile4();
  await lab.fault('tapesrv', 'write-fail file=4 nth=1');
  const r = await lab.exec('tapesrv', `dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /0511-053 The write failed\.\n: There is an input or output error\./);
  assert.deepEqual(lab.faults('tapesrv'), [], 'cleared once it fired');
  const log = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd').at(-1)!;
  assert.deepEqual([(log.tape as { file: number }).file, (log.tape as { bytes: number }).bytes, log.exit !== 0], [4, 0, true]);
  // Retry at record 4 succeeds.
  await ok(lab, 'tapesrv', `tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0.1 fsf 3 && dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
});

test('write-fail ... nth=10 always fails part way through, every time', async () => {
  await toFile4();
  await lab.fault('tapesrv', 'write-fail file=4 nth=10 always');
  for (let i = 0; i < 2; i++) {
    const r = await lab.exec('tapesrv', `tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0.1 fsf 3 && dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
    assert.notEqual(r.code, 0);
    const log = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd').at(-1)!;
    assert.equal((log.tape as { bytes: number }).bytes, 9 * 512, '9 writes reached the tape');
  }
  assert.equal(lab.faults('tapesrv').length, 1);
});

test('eom bytes=N: end of medium at a cartridge position', async () => {
  await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 erase && chdev -l rmt0 -a block_size=512');
  await lab.fault('tapesrv', 'eom bytes=20000');
  const r = await lab.exec('tapesrv', `dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /request to a device or address that does not exist/);
  assert.ok(lab.tapeState('tapesrv', 'rmt0').size <= 20000 + 6);
  assert.deepEqual(lab.faults('tapesrv'), []);
});

test('no-tape: tape commands fail as "not ready" until cleared; tctl offline unloads', async () => {
  await lab.fault('tapesrv', 'no-tape');
  for (const c of ['tctl -f /dev/rmt0 rewind', `dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`, 'dd if=/dev/rmt0 bs=512 count=1']) {
    const r = await lab.exec('tapesrv', c);
    assert.notEqual(r.code, 0, c);
    assert.match(r.stderr, /The device is not ready for operation/, c);
  }
  await lab.clearFaults('tapesrv');
  await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind && tctl -f /dev/rmt0 offline');
  const r = await lab.exec('tapesrv', 'tctl -f /dev/rmt0 rewind');
  assert.match(r.stderr, /not ready/);
  // An operator's eject is no fault: clearing the faults leaves the drive empty until a cartridge is loaded.
  await lab.clearFaults('tapesrv');
  assert.match((await lab.exec('tapesrv', 'tctl -f /dev/rmt0 rewind')).stderr, /not ready/);
  lab.load('tapesrv', 'rmt0', { name: 'rmt0' });
  await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 rewind');
});

test('exit command=mksysb: exits non-zero with the message, once', async () => {
  await lab.fault('aix01', 'exit command=mksysb code=3 message="0512-xxx mksysb: lab says no"');
  const r = await lab.exec('aix01', `mksysb -i ${W}/m.img`);
  assert.equal(r.code, 3);
  assert.match(r.stderr, /0512-xxx mksysb: lab says no/);
  await ok(lab, 'aix01', `mksysb -i ${W}/m.img`);
  const log = (await lab.commandLog('aix01')).filter((e) => e.command === 'mksysb');
  assert.deepEqual(log.map((e) => [e.exit, e.fault]), [[3, 'exit'], [0, undefined]]);
});

test('exit fault on a plain tool (openssl)', async () => {
  await lab.fault('aix01', 'exit command=openssl code=1');
  const r = await lab.exec('aix01', `openssl dgst -sha256 ${W}/data.bin`);
  assert.equal(r.code, 1);
  assert.match(await ok(lab, 'aix01', `openssl dgst -sha256 ${W}/data.bin`), /= [0-9a-f]{64}/);
});

test('hang command=mksysb: a detached mksysb never finishes until killed', async () => {
  await lab.fault('aix01', 'hang command=mksysb');
  // Only nohup runs in the background: `a && b & c` backgrounds the whole and-list, and a Korn shell's subshell
  // for it keeps the session's stdout open until mksysb ends (lksh does), so the session would not close.
  const dir = `${W}/hang`;
  const pid = (await ok(lab, 'aix01', `mkdir -p ${dir} && cd ${dir} && { nohup sh -c 'mksysb -i ${dir}/4.img; echo $? > ${dir}/x.rc' > ${dir}/x.out 2>&1 & echo $!; }`)).trim();
  assert.match(pid, /^\d+$/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await ok(lab, 'aix01', `ps -p ${pid} -o pid=`)).trim(), pid);
  assert.notEqual((await lab.exec('aix01', `test -f ${dir}/x.rc`)).code, 0);
  const log = (await lab.commandLog('aix01')).filter((e) => e.command === 'mksysb').at(-1)!;
  assert.equal(log.fault, 'hang');
  await ok(lab, 'aix01', `kill ${pid}`);
});

test('pause-mksysb at=N: the image holds exactly N bytes and mksysb runs on until the fault is cleared; then the same image as without the pause', async () => {
  const root = lab.host('aix01').root;
  await lab.setHostConfig('aix01', { mksysbBytes: 4 << 20, mksysbBytesPerSecond: 64 << 20 });
  await ok(lab, 'aix01', `mksysb -i ${W}/plain.img`);
  await lab.fault('aix01', 'pause-mksysb at=1000000');
  const child = sshSpawn(lab, 'aix01', `mksysb -i ${W}/paused.img`);
  const exited = new Promise<number | null>((r) => child.on('close', r));
  const held = async (): Promise<boolean> => (await lab.commandLog('aix01')).some((e) => e.command === 'mksysb' && e.fault === 'pause-mksysb');
  for (let i = 0; i < 500 && !(await held()); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(await held(), 'mksysb logged its pause');
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(fs.statSync(path.join(root, W, 'paused.img')).size, 1000000, 'the image stops at N bytes');
  assert.equal((await lab.commandLog('aix01')).some((e) => e.command === 'mksysb' && e.exit !== -1 && e.file === `${W}/paused.img`), false, 'the paused mksysb has not ended');
  await lab.clearFaults('aix01');
  assert.equal(await exited, 0);
  assert.ok(fs.readFileSync(path.join(root, W, 'paused.img')).equals(fs.readFileSync(path.join(root, W, 'plain.img'))), 'the same image');
  assert.throws(() => parseFaultSpec('pause-mksysb'), /at=/);
});

test('pause-tape file=K at=N: the dd writing tape file K stops at N bytes, the drive open, until cleared; a later dd passes a fault another took', async () => {
  await toFile4();
  await lab.fault('tapesrv', 'pause-tape file=4 at=10240 device=rmt0');
  const ddLog = async () => (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd');
  const before = (await ddLog()).length;
  const held = async () => (await ddLog()).slice(before).find((e) => e.fault === 'pause-tape');
  const write = () => sshSpawn(lab, 'tapesrv', `dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
  const child = write();
  const exited = new Promise<number | null>((r) => child.on('close', r));
  for (let i = 0; i < 500 && !(await held()); i++) await new Promise((r) => setTimeout(r, 20));
  const entry = await held();
  assert.ok(entry, 'dd logged its pause');
  assert.equal((entry.tape as { bytes: number; file: number }).bytes, 10240);
  assert.equal((entry.tape as { bytes: number; file: number }).file, 4);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await ddLog()).slice(before).some((e) => e.exit !== -1), false, 'the paused dd has not ended');
  const busy = await lab.exec('tapesrv', 'tctl -f /dev/rmt0.1 rewind');
  assert.notEqual(busy.code, 0, 'the drive stays open while dd is held');
  await lab.clearFaults('tapesrv');
  assert.equal(await exited, 0);
  assert.equal(((await ddLog()).at(-1)!.tape as { bytes: number }).bytes, 512 * 64);

  // A held dd that is killed keeps the fault: a later dd writes past N without a stop.
  await toFile4();
  await lab.fault('tapesrv', 'pause-tape file=4 at=10240');
  const mark = (await ddLog()).length;
  const second = write();
  const gone = new Promise((r) => second.on('close', r));
  for (let i = 0; i < 500 && !(await ddLog()).slice(mark).some((e) => e.fault === 'pause-tape'); i++) await new Promise((r) => setTimeout(r, 20));
  const pid = (lab.faults('tapesrv')[0] as { heldBy?: number }).heldBy;
  assert.ok(pid, 'the fault names the dd that holds it');
  await ok(lab, 'tapesrv', `kill -9 ${pid}`);
  await gone;
  await ok(lab, 'tapesrv', `tctl -f /dev/rmt0.1 rewind && tctl -f /dev/rmt0.1 fsf 3 && dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
  const last = (await ddLog()).at(-1)!;
  assert.equal(last.exit, 0);
  assert.equal((last.tape as { bytes: number }).bytes, 512 * 64);
  assert.throws(() => parseFaultSpec('pause-tape at=5'), /file=/);
});

test('drop-connection after=N command=cat: a download breaks after N bytes', async () => {
  await lab.fault('aix01', 'drop-connection after=300000 command=cat');
  const child = sshSpawn(lab, 'aix01', `cat ${W}/data.bin`);
  let got = 0;
  child.stdout.on('data', (d: Buffer) => (got += d.length));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 255, 'ssh reports the lost connection');
  assert.ok(got <= 300000, `received ${got}`);
  assert.deepEqual(lab.faults('aix01'), []);
  // next transfer is whole
  const again = sshSpawn(lab, 'aix01', `cat ${W}/data.bin`);
  let all = 0;
  again.stdout.on('data', (d: Buffer) => (all += d.length));
  assert.equal(await new Promise((r) => again.on('close', r)), 0);
  assert.equal(all, 1 << 20);
});

test('drop-connection on an upload (cat > FILE) leaves exactly N bytes', async () => {
  await lab.fault('tapesrv', 'drop-connection after=100000 command=cat');
  const child = sshSpawn(lab, 'tapesrv', `cat > ${W}/up.bin`);
  child.stdin.on('error', () => undefined);
  child.stdin.end(crypto.randomBytes(1 << 20));
  assert.equal(await new Promise((r) => child.on('close', r)), 255);
  assert.equal(fs.statSync(path.join(lab.host('tapesrv').root, W, 'up.bin')).size, 100000);
});

test('drop-connection during a tape write (dd) keeps what reached the tape', async () => {
  await ok(lab, 'tapesrv', 'tctl -f /dev/rmt0 erase && chdev -l rmt0 -a block_size=512');
  await lab.fault('tapesrv', 'drop-connection after=10240 command=dd');
  const r = await lab.exec('tapesrv', `dd if=${W}/rec.img of=/dev/rmt0.1 bs=512`);
  assert.equal(r.code, 255);
  const log = (await lab.commandLog('tapesrv')).filter((e) => e.command === 'dd').at(-1)!;
  assert.equal((log.tape as { bytes: number }).bytes, 10240);
});
