/**
 * Secrets stay on the worker: a full backup that logs in with a passphrase-protected key (`key.passphraseEnv`), and
 * failing runs (a tape that fails every write; a wrong passphrase), leave no trace of the private key, its
 * passphrase or the words "PRIVATE KEY" anywhere in their histories (inputs, results, activity inputs and results,
 * heartbeats, failures, search attributes, memo), their descriptions or their progress query.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { backupEnv, type BackupEnv } from '../helpers/backup';
import { historyText } from './env';

interface Secret {
  keyPath: string;
  passphrase: string;
  /** The base64 lines of the private key file, and the key file's text itself. */
  needles: string[];
}

function passphraseKey(env: BackupEnv): Secret {
  const passphrase = `pp-${randomBytes(12).toString('hex')}`;
  const keyPath = path.join(env.tmp, 'id_ed25519_pp');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', 'worker-pp', '-f', keyPath]);
  const text = fs.readFileSync(keyPath, 'utf8');
  assert.match(text, /BEGIN OPENSSH PRIVATE KEY/);
  // The key is really protected: without the passphrase ssh-keygen cannot read it.
  assert.throws(() => execFileSync('ssh-keygen', ['-y', '-P', '', '-f', keyPath], { stdio: 'pipe' }));
  const pub = fs.readFileSync(`${keyPath}.pub`, 'utf8');
  for (const h of env.lab.hosts) fs.appendFileSync(path.join(h.root, 'etc', 'ssh', 'authorized_keys'), pub);
  const lines = text.split('\n').filter((l) => l && !l.startsWith('-----'));
  assert.ok(lines.length >= 3);
  return { keyPath, passphrase, needles: [...lines, text.trim()] };
}

function useKey(env: BackupEnv, keyPath: string, passphraseEnv: string): void {
  const inv = JSON.parse(fs.readFileSync(env.lab.inventoryPath, 'utf8')) as { hosts: Record<string, { key: unknown }> };
  for (const h of Object.values(inv.hosts)) h.key = { path: keyPath, passphraseEnv };
  fs.writeFileSync(env.lab.inventoryPath, JSON.stringify(inv, null, 2) + '\n');
}

async function assertNoSecrets(handle: WorkflowHandle, secret: Secret, extra: string[] = []): Promise<string> {
  const text = await historyText(handle);
  assert.ok(text.length > 1000, 'the history was read');
  for (const needle of [...secret.needles, secret.passphrase, ...extra]) {
    assert.ok(!text.includes(needle), `the history of ${handle.workflowId} contains ${JSON.stringify(needle.slice(0, 30))}...`);
    assert.ok(!text.includes(Buffer.from(needle).toString('base64')), `the history contains ${JSON.stringify(needle.slice(0, 30))} in base64`);
  }
  // The PEM armour of a key file ("-----BEGIN OPENSSH PRIVATE KEY-----"); the words "private key" in an error
  // message that says a key could not be used are fine.
  assert.ok(!text.includes('PRIVATE KEY') && !text.includes('-----BEGIN'), 'the history holds key armour');
  return text;
}

test('no key material or passphrase in the history of a full backup with a passphrase-protected key, nor of a failing run', async () => {
  const env = await backupEnv();
  const secret = passphraseKey(env);
  const VAR = `MKSYSB_TEST_PASSPHRASE_${randomBytes(4).toString('hex')}`;
  process.env[VAR] = secret.passphrase;
  useKey(env, secret.keyPath, VAR);
  // The lab's own key no longer logs in: only the passphrase-protected one is in use.
  fs.rmSync(env.lab.host('aix01').privateKeyPath);

  // A full backup, verified by reading every record back.
  const ok = await env.start({ verify: 'full', keepStaging: true });
  const result = (await ok.result()) as { verification: { readBack: boolean } };
  assert.equal(result.verification.readBack, true);
  const text = await assertNoSecrets(ok, secret);
  assert.ok(text.includes('resolveBackup') && text.includes('writeRecord') && text.includes('verifyTape'), 'the scan covered the activities');

  // A run that fails on the tape (every write of record 1 fails; no operator wait).
  await env.lab.fault('tapesrv', 'write-fail file=1 always');
  const bad = await env.start({ operatorWaitHours: 0, overwrite: true, retry: { maxAttempts: 2 } });
  const err = await bad.result().then(() => assert.fail('the run must fail'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
  assert.match(err.cause.message, /record 1/);
  await env.lab.clearFaults();
  await assertNoSecrets(bad, secret);

});

test('a wrong passphrase is a non-retryable authentication failure that names neither passphrase', async () => {
  // Its own worker: a worker keeps its SSH connections, so a fresh one must log in with the wrong passphrase.
  const env = await backupEnv();
  const secret = passphraseKey(env);
  const VAR = `MKSYSB_TEST_PASSPHRASE_${randomBytes(4).toString('hex')}`;
  const wrong = `wrong-${randomBytes(12).toString('hex')}`;
  process.env[VAR] = wrong;
  useKey(env, secret.keyPath, VAR);
  const denied = await env.start({ operatorWaitHours: 0 });
  const err = await denied.result().then(() => assert.fail('the run must fail'), (e: unknown) => e);
  assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure);
  assert.equal(err.cause.type, 'AuthenticationError');
  assert.equal(err.cause.nonRetryable, true);
  assert.match(err.cause.message, /aix01/);
  await assertNoSecrets(denied, secret, [wrong]);
  delete process.env[VAR];
});
