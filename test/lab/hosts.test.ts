/** Lab hosts: isolation, the AIX userland, the source-host doubles, detached runs, and a clean `down`. */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, type Lab } from '../../lab/index';
import { execFileP, ok } from './helpers';

let lab: Lab;
const W = '/home/mksysb';

/** Host pids of processes whose root directory is inside the lab. */
function labProcesses(dir: string): number[] {
  const out: number[] = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readlinkSync(`/proc/${p}/root`).startsWith(dir + '/')) out.push(Number(p));
    } catch {
      /* gone or not ours */
    }
  }
  return out;
}

before(async () => {
  lab = await startLab({ sources: ['aix01'], mksysbBytes: 2 << 20 });
});
after(async () => {
  if (lab) {
    const dir = lab.dir;
    await lab.down();
    assert.deepEqual(labProcesses(dir), [], 'down leaves no process behind');
  }
});

test('inventory and LabHost fields', async () => {
  const inv = JSON.parse(fs.readFileSync(lab.inventoryPath, 'utf8')) as { hosts: Record<string, Record<string, unknown>> };
  assert.deepEqual(Object.keys(inv.hosts), ['aix01', 'tapesrv']);
  const t = inv.hosts.tapesrv!;
  assert.equal(t.role, 'tape');
  assert.deepEqual(t.devices, { rmt0: { capacityBytes: 4 * 1024 * 1024 * 1024 } });
  assert.equal((t.key as { path: string }).path, lab.host('tapesrv').privateKeyPath);
  const h = lab.host('aix01');
  assert.match(h.knownHostsLine, new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ssh-ed25519 AAAA`));
  assert.equal(h.hostKey, inv.hosts.aix01!.hostKey);
  // password logins are refused: only the key works
  const r = await execFileP('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'PubkeyAuthentication=no', '-o', `UserKnownHostsFile=${path.join(lab.dir, 'known_hosts')}`, '-p', String(h.port), 'root@127.0.0.1', 'true']).catch((e: { code: number }) => e);
  assert.equal((r as { code: number }).code, 255);
});

test('the tape host cannot read the source host files', async () => {
  await ok(lab, 'aix01', `echo secret > ${W}/secret.txt && echo x > /tapeblksz`);
  const r = await lab.exec('tapesrv', `cat ${W}/secret.txt`);
  assert.notEqual(r.code, 0);
  assert.notEqual((await lab.exec('tapesrv', 'test -f /tapeblksz')).code, 0, '/tapeblksz is per host');
  assert.notEqual((await lab.exec('tapesrv', `ls ${lab.host('aix01').root}`)).code, 0);
  const procs = await lab.exec('tapesrv', `cat /proc/*/root${W}/secret.txt 2>/dev/null; ls /proc | grep -c '^[0-9]'`);
  assert.doesNotMatch(procs.stdout, /secret/);
  assert.ok(Number(procs.stdout.trim()) < 20, 'only its own processes are visible');
  assert.equal((await ok(lab, 'tapesrv', 'hostname')).trim(), 'tapesrv');
  await ok(lab, 'aix01', 'rm -f /tapeblksz');
});

test('an AIX host offers no GNU-only commands', async () => {
  for (const c of ['sha256sum', 'timeout', 'setsid', 'stat', 'nproc', 'truncate', 'bash']) {
    const r = await lab.exec('aix01', `command -v ${c}`);
    assert.notEqual(r.code, 0, c);
  }
  for (const c of ['openssl', 'nohup', 'tail', 'head', 'wc', 'df', 'ps', 'mv', 'file']) await ok(lab, 'aix01', `command -v ${c}`);
  assert.equal((await ok(lab, 'aix01', 'uname')).trim(), 'AIX');
  assert.match(await ok(lab, 'aix01', `df -k ${W}`), /^Filesystem\s+1024-blocks\s+Free\s+%Used\s+Iused\s+%Iused\s+Mounted on\n\/dev\/hd1\s+\d+\s+\d+\s+\d+%/);
});

test('bosboot, mkinsttape, mksysb make what AIX makes; file names the archives', async () => {
  await ok(lab, 'aix01', `mkdir -p ${W}/b && bosboot -ad /dev/rmt0 -b ${W}/b/1.img && mkinsttape ${W}/b/2.img && mksysb -i ${W}/b/4.img`);
  const root = lab.host('aix01').root;
  const boot = fs.statSync(path.join(root, W, 'b/1.img')).size;
  assert.notEqual(boot % 512, 0);
  assert.equal(fs.statSync(path.join(root, W, 'b/2.img')).size % 512, 0);
  assert.equal(fs.statSync(path.join(root, W, 'b/4.img')).size % 512, 0);
  const types = await ok(lab, 'aix01', `file ${W}/b/2.img ${W}/b/4.img`);
  assert.equal(types.match(/AIX backup\/restore format file/g)?.length, 2, types);
  // deterministic for a seed
  await ok(lab, 'aix01', `mksysb -i ${W}/b/4again.img`);
  assert.ok(fs.readFileSync(path.join(root, W, 'b/4.img')).equals(fs.readFileSync(path.join(root, W, 'b/4again.img'))));
  // mkinsttape holds ./tapeblksz only when /tapeblksz exists
  assert.doesNotMatch(await ok(lab, 'aix01', `restore -Tvf ${W}/b/2.img`), /tapeblksz/);
  await ok(lab, 'aix01', `echo '262144 NONE' > /tapeblksz && mkinsttape ${W}/b/2t.img && rm -f /tapeblksz`);
  assert.match(await ok(lab, 'aix01', `restore -Tvf ${W}/b/2t.img`), /\.\/tapeblksz/);
  assert.match(await ok(lab, 'aix01', `lsmksysb -l -f ${W}/b/4.img`), /VOLUME GROUP:\s+rootvg/);
});

test('SFTP works and lsmksysb -V finds a corrupted archive header', async () => {
  await ok(lab, 'aix01', `mksysb -i ${W}/v.img`);
  const h = lab.host('aix01');
  const local = path.join(lab.dir, 'v.img');
  const batch = path.join(lab.dir, 'sftp.batch');
  fs.writeFileSync(batch, `get ${W}/v.img ${local}\nput ${local} ${W}/v2.img\n`);
  await execFileP('sftp', ['-q', '-F', '/dev/null', '-i', h.privateKeyPath, '-o', `UserKnownHostsFile=${path.join(lab.dir, 'known_hosts')}`, '-o', 'BatchMode=yes', '-P', String(h.port), '-b', batch, 'root@127.0.0.1']);
  assert.ok(fs.readFileSync(local).equals(fs.readFileSync(path.join(h.root, W, 'v2.img'))));
  await ok(lab, 'aix01', `lsmksysb -V -f ${W}/v2.img`);
  const img = fs.readFileSync(path.join(h.root, W, 'v2.img'));
  img[72 + 64] = img[72 + 64]! ^ 0xff; // a byte of the first entry's name: its header checksum no longer matches
  fs.writeFileSync(path.join(h.root, W, 'v2.img'), img);
  const r = await lab.exec('aix01', `lsmksysb -V -f ${W}/v2.img`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /checksum/);
});

test('mksysb -e honours /etc/exclude.rootvg; bad flags and targets are refused', async () => {
  await ok(lab, 'aix01', `echo '^./tmp/' > /etc/exclude.rootvg && mksysb -e -i ${W}/e.img && mksysb -i ${W}/n.img`);
  assert.doesNotMatch(await ok(lab, 'aix01', `lsmksysb -f ${W}/e.img`), /\.\/tmp\//);
  assert.match(await ok(lab, 'aix01', `lsmksysb -f ${W}/n.img`), /\.\/tmp\/scratch\.dat/);
  const bad = await lab.exec('aix01', `mksysb -q ${W}/q.img`);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Not a recognized flag: q/);
  const nodir = await lab.exec('aix01', `mksysb -i ${W}/no/such/dir/x.img`);
  assert.notEqual(nodir.code, 0);
  const log = await lab.commandLog('aix01');
  assert.ok(log.filter((e) => e.command === 'mksysb' && e.exit !== 0).length >= 2);
});

test('freeBytes: df reports it and mksysb fails when the image does not fit', async () => {
  await lab.setHostConfig('aix01', { freeBytes: 1 << 20 });
  assert.match(await ok(lab, 'aix01', `df -k ${W}`), /\n\/dev\/hd1\s+\d+\s+1024\s/);
  const r = await lab.exec('aix01', `mksysb -i ${W}/full.img`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /There is not enough space in the file system/);
  assert.ok(fs.statSync(path.join(lab.host('aix01').root, W, 'full.img')).size <= 1 << 20);
  await lab.setHostConfig('aix01', { freeBytes: undefined });
  await ok(lab, 'aix01', `mksysb -i ${W}/full.img`);
});

test('a detached mksysb grows its file while it runs and is polled like the workflow does', async () => {
  // 12 MiB at 2 MiB/s: about 6 s, long enough to see it grow even on a loaded machine.
  await lab.setHostConfig('aix01', { mksysbBytes: 12 << 20, mksysbBytesPerSecond: 2 << 20 });
  // Only nohup runs in the background: `a && b & c` backgrounds the whole and-list, and a Korn shell's subshell
  // for it keeps the session's stdout open until mksysb ends (lksh does), so the session would not close.
  const d = `${W}/BID1`;
  const pid = (await ok(lab, 'aix01', `mkdir -p ${d} && cd ${d} && { nohup sh -c 'mksysb -i -p ${d}/4_mksysb.img; echo $? > ${d}/x.rc' > ${d}/x.out 2>&1 & echo $!; }`)).trim();
  await new Promise((r) => setTimeout(r, 300));
  await ok(lab, 'aix01', `kill -0 ${pid}`);
  // Sizes seen while it runs: at least two different non-zero ones before it finishes.
  const sizes = new Set<number>();
  while ((await lab.exec('aix01', `test -f ${d}/x.rc`)).code !== 0) {
    const n = Number((await ok(lab, 'aix01', `wc -c < ${d}/4_mksysb.img 2>/dev/null || echo 0`)).trim());
    if (n > 0) sizes.add(n);
    await new Promise((r) => setTimeout(r, 300));
  }
  assert.ok(sizes.size >= 2, `file grows while mksysb runs: sizes seen ${[...sizes].join(', ')}`);
  for (let i = 0; i < 100; i++) {
    if ((await lab.exec('aix01', `test -f ${d}/x.rc`)).code === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal((await ok(lab, 'aix01', `cat ${d}/x.rc`)).trim(), '0');
  assert.notEqual((await lab.exec('aix01', `kill -0 ${pid}`)).code, 0);
  assert.match(await ok(lab, 'aix01', `cat ${d}/x.out`), /0512-038 mksysb: Backup Completed Successfully/);
  // resumable reads the workflow uses
  const size = fs.statSync(path.join(lab.host('aix01').root, d, '4_mksysb.img')).size;
  assert.equal(Number((await ok(lab, 'aix01', `tail -c +${size - 511} ${d}/4_mksysb.img | wc -c`)).trim()), 512);
  assert.equal(Number((await ok(lab, 'aix01', `dd if=${d}/4_mksysb.img bs=512 skip=${size / 512 - 2} 2>/dev/null | wc -c`)).trim()), 1024);
  await lab.setHostConfig('aix01', { mksysbBytes: 2 << 20, mksysbBytesPerSecond: 64 << 20 });
});

test('a detached command keeps running after its session; down() ends it', async () => {
  const pid = (await ok(lab, 'aix01', `nohup sh -c 'sleep 600' > /dev/null 2>&1 & echo $!`)).trim();
  await ok(lab, 'aix01', `ps -p ${pid} -o pid=`);
  assert.ok(labProcesses(lab.dir).length >= 3, 'sshd of both hosts and the sleep');
});
