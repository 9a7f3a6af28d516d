/** OpenSSH between lab hosts: ssh and scp on every host's PATH, and `trust` / `untrust` of a tape host and a source. */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, type Lab, type LabTrust } from '../../lab/index';
import { parseInventory, pullRoute } from '../../src/schema';
import { quote } from '../../src/tape';
import { execFileP, ok } from './helpers';

let lab: Lab;
const W = '/home/mksysb';

before(async () => {
  lab = await startLab({ sources: ['aix01'], tapeHosts: [{ name: 'tapesrv', os: 'aix' }, { name: 'lnxtape', os: 'linux' }] });
  fs.writeFileSync(path.join(lab.host('aix01').root, W, 'data.bin'), Buffer.alloc(300_000, 7));
});
after(async () => {
  await lab?.down();
});

/** `ssh ... source CMD` and `scp -O ... source:FILE DEST` as the tape host runs them after `trust`. */
const sshLine = (t: LabTrust, remote: string) => ['ssh', ...t.options, '-p', String(t.port), t.login, remote].map(quote).join(' ');
const scpLine = (t: LabTrust, file: string, dest: string) =>
  ['scp', '-O', '-q', ...t.options, '-P', String(t.port), `${t.login}:${file}`, dest].map(quote).join(' ');

test('ssh and scp are on the PATH of AIX and Linux hosts, as OpenSSH puts them on AIX', async () => {
  for (const h of ['aix01', 'tapesrv']) {
    assert.equal(await ok(lab, h, 'command -v ssh; command -v scp'), '/lab/bin-aix/ssh\n/lab/bin-aix/scp\n', h);
  }
  assert.match(await ok(lab, 'lnxtape', 'command -v ssh; command -v scp'), /^\/\S+\/ssh\n\/\S+\/scp\n$/);
});

test('trust: the tape host pulls from the source with its own ssh and with scp -O; the inventory says pullFrom', async () => {
  for (const tape of ['tapesrv', 'lnxtape']) {
    const t = lab.trust(tape, 'aix01');
    assert.equal(t.identityFile, '/root/.ssh/id_pull_aix01');
    assert.equal(fs.statSync(path.join(lab.host(tape).root, t.identityFile)).mode & 0o777, 0o600);
    assert.equal(await ok(lab, tape, `${sshLine(t, `wc -c < ${W}/data.bin`)}`), '  300000\n', 'AIX wc pads each count to 7 after a space');
    await ok(lab, tape, scpLine(t, `${W}/data.bin`, `${W}/copy.bin`));
    assert.deepEqual(fs.readFileSync(path.join(lab.host(tape).root, W, 'copy.bin')), Buffer.alloc(300_000, 7));
    const route = pullRoute(parseInventory(JSON.parse(fs.readFileSync(lab.inventoryPath, 'utf8'))), tape, 'aix01');
    assert.deepEqual(route, {
      address: '127.0.0.1',
      port: lab.host('aix01').port,
      user: 'root',
      identityFile: '/root/.ssh/id_pull_aix01',
      hostKey: lab.host('aix01').hostKey,
    });
  }
  // Again: nothing added twice.
  lab.trust('tapesrv', 'aix01');
  const auth = fs.readFileSync(path.join(lab.host('aix01').root, 'etc/ssh/authorized_keys'), 'utf8').trim().split('\n');
  assert.equal(auth.length, 3, 'the worker key and one key per trusting tape host');
  const known = fs.readFileSync(path.join(lab.host('tapesrv').root, 'root/.ssh/known_hosts'), 'utf8').trim().split('\n');
  assert.deepEqual(known, [lab.host('aix01').knownHostsLine]);
});

test('untrust: the source refuses the key and the inventory forgets the pair; the CLI does both ways', async () => {
  const t = lab.trust('tapesrv', 'aix01');
  lab.untrust('tapesrv', 'aix01');
  const refused = await lab.exec('tapesrv', sshLine(t, 'true'));
  assert.equal(refused.code, 255);
  assert.match(refused.stderr, /Permission denied/);
  const inv = JSON.parse(fs.readFileSync(lab.inventoryPath, 'utf8')) as { hosts: Record<string, { pullFrom?: unknown }> };
  assert.equal(inv.hosts.tapesrv!.pullFrom, undefined);
  assert.ok(inv.hosts.lnxtape!.pullFrom, 'the other pair is untouched');

  const cli = (...args: string[]) =>
    execFileP(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '../../lab/cli.ts'), ...args, '--dir', lab.dir]);
  const printed = JSON.parse((await cli('trust', 'tapesrv', 'aix01')).stdout) as LabTrust;
  assert.equal(printed.identityFile, '/root/.ssh/id_pull_aix01');
  assert.equal(await ok(lab, 'tapesrv', sshLine(printed, 'echo yes')), 'yes\n');
  await cli('untrust', 'tapesrv', 'aix01');
  assert.equal((await lab.exec('tapesrv', sshLine(printed, 'true'))).code, 255);
  await cli('trust', 'tapesrv', 'aix01', '--no-inventory');
  assert.equal(await ok(lab, 'tapesrv', sshLine(printed, 'echo yes')), 'yes\n');
  const after = JSON.parse(fs.readFileSync(lab.inventoryPath, 'utf8')) as { hosts: Record<string, { pullFrom?: unknown }> };
  assert.equal(after.hosts.tapesrv!.pullFrom, undefined, '--no-inventory leaves the inventory alone');
  assert.throws(() => lab.trust('aix01', 'tapesrv'), /not a tape host/);
});
