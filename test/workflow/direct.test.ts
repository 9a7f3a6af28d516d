/**
 * Direct transfers: a tape host the inventory lets log in to the source (`pullFrom`, set up with `lab.trust`) pulls the
 * images itself with OpenSSH, so that no byte passes through the worker; a pull cut midway resumes at the bytes the tape
 * host holds; a tape host that cannot log in falls back to the relay and says why; a bad `pullFrom` fails the run at
 * validation. Real lab hosts, real sshd on both ends of the pull, the real Temporal dev server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { activityResults, assertTapeHolds, backupEnv, sourceImages, sourceRuns, spawnWorker, waitFor, type BackupEnv } from '../helpers/backup';
import { backupIdFromWorkflowId, type BackupResult } from '../../src/shared/contract';
import type { FollowOutcome, TransferOutcome } from '../../src/activities';

/** Results of the run's completed transferImage and followImage activities. */
async function moves(handle: WorkflowHandle): Promise<{ type: string; value: TransferOutcome | FollowOutcome }[]> {
  return (await activityResults(handle))
    .filter((r) => r.type === 'transferImage' || r.type === 'followImage')
    .map((r) => ({ type: r.type, value: r.value as TransferOutcome | FollowOutcome }));
}

function stagingFile(env: BackupEnv, host: string, backupId: string, name: string): string {
  const h = env.lab.host(host);
  return path.join(h.root, h.workFolder, backupId, name);
}

test('a backup between hosts that trust each other: every image pulled by the tape host, none relayed, tape correct', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 6 << 20 } });
  const trust = env.lab.trust('tapesrv', 'aix01');
  const handle = await env.start({ keepStaging: true });
  const result = (await handle.result()) as BackupResult;

  // The result says how each image moved: all by the tape host, the mksysb image while mksysb wrote it or after.
  const transfers = result.transfers!;
  assert.deepEqual([...new Set(transfers.map((t) => t.record))].sort(), [1, 2, 4], JSON.stringify(transfers));
  for (const t of transfers) {
    assert.equal(t.mode, 'direct', JSON.stringify(t));
    assert.equal(t.directFailed, undefined);
  }
  // So do the activities' own results: the worker relayed none of the bytes they moved.
  const done = await moves(handle);
  assert.ok(done.length >= 3, JSON.stringify(done));
  for (const m of done) assert.equal(m.value.mode, 'direct', `${m.type}: ${JSON.stringify(m.value)}`);
  const img = sourceImages(env, result.backupId);
  const moved = done.reduce((n, m) => n + m.value.bytesSent, 0);
  assert.equal(moved, img.boot.length + img.install.length + img.mksysb.length, 'each byte pulled once');

  // The tape host's ssh accepted only the source's key from the inventory, pinned in the staging folder.
  const known = fs.readFileSync(stagingFile(env, 'tapesrv', result.backupId, 'pull-known_hosts'), 'utf8');
  assert.equal(known, `[127.0.0.1]:${env.lab.host('aix01').port} ${env.lab.host('aix01').hostKey}\n`);
  assert.equal(trust.identityFile, '/root/.ssh/id_pull_aix01');
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, img);
});

test('a direct pull cut midway resumes at the bytes the tape host holds, still direct', async () => {
  const env = await backupEnv({ lab: { mksysbBytes: 4 << 20 } });
  env.lab.trust('tapesrv', 'aix01');
  // The source end of the first large pull (`cat` of the boot or the mksysb image) loses its connection after `dropAt`
  // bytes: the tape host's ssh exits 255 with part of the image there.
  const dropAt = 600_000 + 123;
  await env.lab.fault('aix01', `drop-connection after=${dropAt} command=cat`);
  const handle = await env.start({ keepStaging: true });
  const result = (await handle.result()) as BackupResult;
  const dropped = (await env.lab.commandLog('aix01')).filter((e) => e.fault === 'drop-connection');
  assert.equal(dropped.length, 1, 'the connection was cut once');
  assert.equal(dropped[0]!.bytes, dropAt);

  const done = await moves(handle);
  for (const m of done) assert.equal(m.value.mode, 'direct', `${m.type}: ${JSON.stringify(m.value)}`);
  const resumed = done.filter((m) => m.value.resumedFrom > 0 && !('alreadyThere' in m.value && m.value.alreadyThere));
  assert.equal(resumed.length, 1, `one move resumed: ${JSON.stringify(done)}`);
  const r = resumed[0]!.value;
  // What the tape host held when the retry began: at most what passed the source's end, far past byte 0.
  assert.ok(r.resumedFrom > 0 && r.resumedFrom <= dropAt, JSON.stringify(r));
  if (resumed[0]!.type === 'transferImage') {
    assert.equal(r.bytesSent, (r as TransferOutcome).bytes - r.resumedFrom, 'the retry pulled only the rest');
  }
  assert.ok(result.transfers!.some((t) => t.resumedFrom === r.resumedFrom && t.mode === 'direct'), JSON.stringify(result.transfers));
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

/** The pending transferImage of `record`: its attempt and last heartbeat, or undefined. */
async function pendingMove(handle: WorkflowHandle, record: number): Promise<{ attempt: number; beat: Record<string, unknown> } | undefined> {
  const { defaultPayloadConverter } = await import('@temporalio/common');
  for (const a of (await handle.describe()).raw.pendingActivities ?? []) {
    const payload = a.heartbeatDetails?.payloads?.[0];
    if (a.activityType?.name !== 'transferImage' || !payload) continue;
    const beat = defaultPayloadConverter.fromPayload(payload as never) as Record<string, unknown>;
    if (beat.record === record) return { attempt: a.attempt ?? 1, beat };
  }
  return undefined;
}

test('a worker lost during a direct pull: the next attempt attaches to the pull still running on the tape host', async () => {
  const env = await backupEnv({ worker: false, lab: { mksysbBytes: 6 << 20 } });
  await env.lab.setHostConfig('aix01', { mksysbBytesPerSecond: 1 << 20 });
  env.lab.trust('tapesrv', 'aix01');
  // The tape host's first `openssl` (the hash of the boot image's pull) never reads: the pull stalls with part of the
  // image written, and runs on without the worker.
  await env.lab.fault('tapesrv', 'hang command=openssl');
  let w = spawnWorker(env);
  const handle = await env.start({ keepStaging: true, retry: { maxAttempts: 5 } });
  const target = stagingFile(env, 'tapesrv', backupIdFromWorkflowId(handle.workflowId), '1_bosboot.img');
  const size = () => (fs.existsSync(target) ? fs.statSync(target).size : 0);
  // Stalled: the size a poll heartbeated is still the size now.
  const first = await waitFor('the boot image pull stalled with part of it there', async () => {
    const p = await pendingMove(handle, 1);
    return p?.beat.pid !== undefined && size() > 0 && p.beat.bytesDone === size() ? p : undefined;
  });
  assert.equal(first.beat.mode, 'direct');
  const partial = size();
  w.child.kill('SIGKILL');
  await w.exited;
  w = spawnWorker(env);
  // The retry found the pull by its mark and polls that same process instead of starting a second writer.
  const second = await waitFor('the retry attached', async () => {
    const p = await pendingMove(handle, 1);
    return p && p.attempt >= 2 && p.beat.pid !== undefined ? p : undefined;
  }, 90_000);
  assert.equal(second.beat.pid, first.beat.pid, 'the same pull process, attached');
  assert.equal(size(), partial, 'nothing else wrote to the copy');
  // Let the stalled pull end (its hash is lost, so that attempt fails); the next one resumes at the bytes there.
  const hung = (await env.lab.commandLog('tapesrv')).find((e) => e.command === 'openssl' && e.fault === 'hang');
  assert.ok(hung, 'the stalled openssl is in the command log');
  assert.equal((await env.lab.exec('tapesrv', `kill ${String(hung.pid)}`)).code, 0);
  const result = (await handle.result()) as BackupResult;
  const boot = (await moves(handle)).find((m) => m.type === 'transferImage' && (m.value as TransferOutcome).record === 1)!.value;
  assert.equal(boot.mode, 'direct');
  assert.equal(boot.resumedFrom, partial, JSON.stringify(boot));
  assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
  await assertTapeHolds(env, sourceImages(env, result.backupId));
  w.child.kill('SIGTERM');
  await w.exited;
});

test('a tape host whose key the source refuses falls back to the relay, and the result says why', async () => {
  const env = await backupEnv();
  env.lab.trust('tapesrv', 'aix01');
  // A private key the source does not accept: the tape host's own host key.
  const inv = JSON.parse(fs.readFileSync(env.lab.inventoryPath, 'utf8')) as { hosts: Record<string, Record<string, unknown>> };
  inv.hosts.tapesrv!.pullFrom = { aix01: { identityFile: '/etc/ssh/ssh_host_ed25519_key' } };
  fs.writeFileSync(env.lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
  const handle = await env.start({ keepStaging: true });
  const result = (await handle.result()) as BackupResult;

  const transfers = result.transfers!;
  assert.deepEqual([...new Set(transfers.map((t) => t.record))].sort(), [1, 2, 4], JSON.stringify(transfers));
  for (const t of transfers) {
    assert.equal(t.mode, 'relay', JSON.stringify(t));
    assert.match(t.directFailed ?? '', /^root@127\.0\.0\.1: Permission denied \(publickey\)\.$/, JSON.stringify(t));
  }
  const done = await moves(handle);
  for (const m of done) {
    assert.equal(m.value.mode, 'relay');
    assert.match(m.value.directFailed ?? '', /Permission denied/);
  }
  const img = sourceImages(env, result.backupId);
  assert.equal(done.reduce((n, m) => n + m.value.bytesSent, 0), img.boot.length + img.install.length + img.mksysb.length);
  await assertTapeHolds(env, img);
});

test("the tape host's ssh accepts only the source's pinned key: a route to another server is refused and the image relayed", async () => {
  const env = await backupEnv();
  const trust = env.lab.trust('tapesrv', 'aix01');
  // The route leads to a server with another host key (the tape host's own sshd), as an impostor would be.
  const inv = JSON.parse(fs.readFileSync(env.lab.inventoryPath, 'utf8')) as { hosts: Record<string, Record<string, unknown>> };
  inv.hosts.tapesrv!.pullFrom = { aix01: { identityFile: trust.identityFile, port: env.lab.host('tapesrv').port } };
  fs.writeFileSync(env.lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
  const result = (await (await env.start({ keepStaging: true })).result()) as BackupResult;
  for (const t of result.transfers!) {
    assert.equal(t.mode, 'relay', JSON.stringify(t));
    assert.match(t.directFailed ?? '', /Host key verification failed\./, JSON.stringify(t));
  }
  await assertTapeHolds(env, sourceImages(env, result.backupId));
});

test('a bad pullFrom fails the run at validation, naming the field, before any remote command', async () => {
  const env = await backupEnv();
  const good = fs.readFileSync(env.lab.inventoryPath, 'utf8');
  const cases: { name: string; change: (hosts: Record<string, Record<string, unknown>>) => void; message: string }[] = [
    {
      name: 'pullFrom on a source host',
      change: (h) => (h.aix01!.pullFrom = { tapesrv: { identityFile: '/root/.ssh/id_pull' } }),
      message: 'hosts.aix01.pullFrom: only a host with role "tape" pulls images from source hosts',
    },
    {
      name: 'pullFrom naming an unknown host',
      change: (h) => (h.tapesrv!.pullFrom = { aix09: { identityFile: '/root/.ssh/id_pull' } }),
      message: 'hosts.tapesrv.pullFrom.aix09: is not a host in this inventory',
    },
    {
      name: 'pullFrom naming a host that is not a source',
      change: (h) => {
        h.tape2 = { ...h.tapesrv!, port: 1 };
        h.tapesrv!.pullFrom = { tape2: { identityFile: '/root/.ssh/id_pull' } };
      },
      message: 'hosts.tapesrv.pullFrom.tape2: is not a host with role "source": a tape host pulls images only from source hosts',
    },
    {
      name: 'a relative identityFile',
      change: (h) => (h.tapesrv!.pullFrom = { aix01: { identityFile: '.ssh/id_pull' } }),
      message: 'hosts.tapesrv.pullFrom.aix01.identityFile ".ssh/id_pull": must be an absolute path starting with "/" (e.g. /home/mksysb/.ssh/id_pull)',
    },
  ];
  for (const c of cases) {
    const inv = JSON.parse(good) as { hosts: Record<string, Record<string, unknown>> };
    c.change(inv.hosts);
    fs.writeFileSync(env.lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
    const handle = await env.start({});
    const err = await handle.result().then(() => assert.fail(`${c.name}: the run must fail`), (e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, `${c.name}: ${String(err)}`);
    assert.equal(err.cause.type, 'InventoryValidationError', c.name);
    assert.equal(err.cause.message, `invalid inventory ${env.lab.inventoryPath}: ${c.message}`, c.name);
    assert.equal(err.cause.nonRetryable, true);
  }
  for (const h of ['aix01', 'tapesrv']) assert.deepEqual(await env.lab.commandLog(h), [], `${h} ran no command`);
});
