/** Many source hosts (issue 7 needs 50+): started in parallel, each its own sshd and tree. */
import { after, before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { startLab, type Lab } from '../../lab/index';

let lab: Lab;

before(async () => {
  lab = await startLab({ sources: 50 });
});
after(async () => {
  await lab?.down();
});

test('50 source hosts and a tape host answer over ssh, each with its own hostname and port', async () => {
  assert.equal(lab.hosts.length, 51);
  assert.equal(lab.hosts[0]!.name, 'aix01');
  assert.equal(lab.hosts[49]!.name, 'aix50');
  assert.equal(new Set(lab.hosts.map((h) => h.port)).size, 51);
  const names = await Promise.all(lab.hosts.map((h) => lab.exec(h.name, 'hostname')));
  assert.deepEqual(
    names.map((r) => r.stdout.trim()),
    lab.hosts.map((h) => h.name),
  );
});
