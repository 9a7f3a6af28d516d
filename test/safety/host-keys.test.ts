/**
 * Host keys: a host presenting another key than the inventory pins is refused with a non-retryable error naming the
 * host and the SHA256 fingerprint seen, before any command runs; a host not in the inventory is refused at
 * validation; `mksysb-tape inventory trust HOST` shows the key a host presents and pins it only with --yes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { backupEnv, waitFor, type BackupEnv } from '../helpers/backup';
import { runCli } from '../client/env';
import { fingerprint, parsePinnedKey } from '../../src/ssh/hostkey';
import type { BackupProgress } from '../../src/shared/contract';
import { assertNoCommands, countConnections } from './env';

function otherHostKey(dir: string): string {
  const f = path.join(dir, `other-${Date.now()}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'other', '-f', f]);
  return fs.readFileSync(`${f}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
}

function setHostKey(env: BackupEnv, host: string, key: string): void {
  const inv = JSON.parse(fs.readFileSync(env.lab.inventoryPath, 'utf8')) as { hosts: Record<string, { hostKey: string }> };
  inv.hosts[host]!.hostKey = key;
  fs.writeFileSync(env.lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
}

function pinnedKey(env: BackupEnv, host: string): string {
  return (JSON.parse(fs.readFileSync(env.lab.inventoryPath, 'utf8')) as { hosts: Record<string, { hostKey: string }> }).hosts[host]!.hostKey;
}

const fp = (key: string) => fingerprint(parsePinnedKey(key).blob);

function cliEnv(env: BackupEnv): NodeJS.ProcessEnv {
  return { ...process.env, TEMPORAL_ADDRESS: env.t.address, MKSYSB_TAPE_INVENTORY: env.lab.inventoryPath };
}

test('a changed host key is refused: non-retryable, names the host and the fingerprint seen, no command runs; trust pins the new key', async () => {
  const env = await backupEnv();
  await countConnections(env.lab);
  const real = env.lab.host('aix01').hostKey;
  const wrong = otherHostKey(env.tmp);
  setHostKey(env, 'aix01', wrong);

  // With operatorWaitHours 0 the run fails at once.
  const handle = await env.start({ operatorWaitHours: 0 });
  const err = await handle.result().then(() => assert.fail('the run must fail'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError);
  const cause = err.cause;
  assert.ok(cause instanceof ApplicationFailure, String(cause));
  assert.equal(cause.type, 'HostKeyMismatchError');
  assert.equal(cause.nonRetryable, true);
  // bosboot and mkinsttape start side by side: whichever reaches the host first reports the mismatch.
  assert.match(cause.message, /^making the images \(record [12]\) failed: host key mismatch for aix01 \(127\.0\.0\.1:\d+\): /);
  assert.ok(cause.message.includes(`presented ${fp(real)}, pinned ${fp(wrong)}`), cause.message);
  const history = await handle.fetchHistory();
  const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
  assert.ok(attempts.length >= 2 && attempts.every((a) => a === 1), `validation once, each image step once: a host-key mismatch is not retried (${attempts})`);

  // With the default wait the run waits for an operator and says why.
  const waiting = await env.start({});
  const progress = await waitFor('the run to wait', async () => {
    const p = await waiting.query<BackupProgress>('progress');
    return p.waiting ? p : undefined;
  });
  assert.ok(progress.waiting!.reason.includes(`host key mismatch for aix01`) && progress.waiting!.reason.includes(fp(real)), progress.waiting!.reason);
  await waiting.terminate('test done');
  await assertNoCommands(env.lab, 'after the host-key refusals');

  // inventory trust without --yes (no terminal to confirm on): shows both fingerprints, changes nothing.
  const dry = await runCli(['inventory', 'trust', 'aix01'], cliEnv(env));
  assert.equal(dry.code, 2, dry.stderr + dry.stdout);
  assert.ok(dry.stdout.includes(`aix01 (127.0.0.1:`) && dry.stdout.includes(`presents ssh-ed25519 ${fp(real)}`), dry.stdout);
  assert.ok(dry.stdout.includes(`the inventory pins a different key: ${fp(wrong)}`), dry.stdout);
  assert.match(dry.stdout, /not recorded/);
  assert.equal(pinnedKey(env, 'aix01'), wrong);

  // With --yes it pins the key the host presents, and a backup works again.
  const yes = await runCli(['inventory', 'trust', 'aix01', '--yes'], cliEnv(env));
  assert.equal(yes.code, 0, yes.stderr + yes.stdout);
  assert.ok(yes.stdout.includes(`recorded ${fp(real)} as the host key of aix01`), yes.stdout);
  assert.equal(pinnedKey(env, 'aix01'), real);
  await assertNoCommands(env.lab, 'inventory trust runs no command');
  const again = await runCli(['--json', 'inventory', 'trust', 'aix01'], cliEnv(env));
  assert.equal(again.code, 0);
  assert.deepEqual(
    (({ matchesPinned, recorded, fingerprint: f }) => ({ matchesPinned, recorded, f }))(JSON.parse(again.stdout) as { matchesPinned: boolean; recorded: boolean; fingerprint: string }),
    { matchesPinned: true, recorded: false, f: fp(real) },
  );
  const result = await env.run({ verify: 'lsmksysb' });
  assert.equal(result.verification.lsmksysb, true);
});

test('a host not in the inventory is refused at validation; inventory trust refuses it too', async () => {
  const env = await backupEnv();
  const conns = await countConnections(env.lab);
  const handle = await env.start({ source: 'aix07' });
  const err = await handle.result().then(() => assert.fail('the run must fail'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
  assert.equal(err.cause.message, 'invalid backup input: source "aix07": is not a host in the inventory (source hosts: aix01)');
  assert.equal(err.cause.type, 'InputValidationError');
  const r = await runCli(['inventory', 'trust', 'aix07', '--yes'], cliEnv(env));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /host "aix07" is not in the inventory .* \(hosts: aix01, tapesrv\); add it first/);
  assert.equal(conns.total(), 0, 'no connection was opened');
  await assertNoCommands(env.lab, 'unknown host');
});

test('a host whose inventory entry lacks a pinned key cannot be used; trust --yes pins it', async () => {
  const env = await backupEnv();
  const inv = JSON.parse(fs.readFileSync(env.lab.inventoryPath, 'utf8')) as { hosts: Record<string, { hostKey?: string }> };
  delete inv.hosts.tapesrv!.hostKey;
  fs.writeFileSync(env.lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
  const handle = await env.start({});
  const err = await handle.result().then(() => assert.fail('the run must fail'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
  assert.equal(err.cause.type, 'InventoryValidationError');
  assert.match(err.cause.message, /hosts\.tapesrv\.hostKey: is required/);
  await assertNoCommands(env.lab, 'unpinned host');
  const r = await runCli(['inventory', 'trust', 'tapesrv', '--yes'], cliEnv(env));
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /the inventory pins no key for it/);
  assert.equal(pinnedKey(env, 'tapesrv'), env.lab.host('tapesrv').hostKey);
});
