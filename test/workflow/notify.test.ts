/**
 * When a run starts to wait for an operator, the worker tells the people its configuration names (a webhook, a local
 * command) and tells them again when the wait ends; a notice that cannot be delivered at once is retried, and one that
 * cannot be delivered at all never keeps the run from waiting and going on. Real Temporal, real lab, a local receiver.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { backupEnv, waitFor, type BackupEnv } from '../helpers/backup';
import { startProjectWorker } from '../helpers/temporal';
import type { NotifyConfig } from '../../src/activities';
import type { LabOptions } from '../../lab';
import type { BackupProgress, BackupResult, WaitNotice } from '../../src/shared/contract';

const AUTH = 'Bearer notify-s3cr3t-0f9a';
const UI = 'http://temporal-ui.example:8233';

interface Received {
  status: number;
  at: number;
  body: string;
  auth?: string;
}

/** A webhook receiver on 127.0.0.1: answers each POST with the next of `statuses` (then 200). */
async function receiver(statuses: number[] = []) {
  const got: Received[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      const status = statuses[got.length] ?? 200;
      got.push({ status, at: Date.now(), body, auth: req.headers.authorization });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  after(() => new Promise<void>((r) => srv.close(() => r())));
  const delivered = () => got.filter((g) => g.status === 200).map((g) => JSON.parse(g.body) as WaitNotice);
  return {
    url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/mksysb`,
    got,
    delivered,
    notice: (event: WaitNotice['event']) => waitFor(`a "${event}" notice`, async () => delivered().find((n) => n.event === event)),
  };
}

/** A lab and a worker whose notices go where `notify` says. */
async function notifyEnv(notify: Omit<NotifyConfig, 'uiUrl'>, lab?: LabOptions): Promise<BackupEnv> {
  const env = await backupEnv({ worker: false, lab });
  await startProjectWorker({ config: { ...env.config, notify: { uiUrl: UI, ...notify } }, activityDeps: { pollIntervalMs: 200 } });
  return env;
}

async function waiting(handle: WorkflowHandle): Promise<BackupProgress> {
  return await waitFor('the run to wait for an operator', async () => {
    const p = await handle.query<BackupProgress>('progress');
    return p.waiting ? p : undefined;
  });
}

/** What of the lab must never leave the worker: key files and their text, known-hosts lines, host keys. */
function labSecrets(env: BackupEnv): string[] {
  const out = [env.lab.inventoryPath, AUTH];
  for (const h of env.lab.hosts) {
    out.push(h.privateKeyPath, h.knownHostsLine, h.hostKey);
    out.push(...fs.readFileSync(h.privateKeyPath, 'utf8').split('\n').filter((l) => l.length > 20 && !l.startsWith('-----')));
  }
  return out;
}

function assertNoSecrets(env: BackupEnv, text: string): void {
  for (const s of labSecrets(env)) assert.ok(!text.includes(s), `the notice holds ${JSON.stringify(s.slice(0, 40))}`);
  assert.ok(!/PRIVATE KEY|passphrase|authorization/i.test(text), 'no key armour, passphrase or auth header in the notice');
}

test('a run that waits for an operator: a "waiting" notice with what to do, nothing secret; "resumed" after retry', async () => {
  const rx = await receiver();
  const env = await notifyEnv({ webhook: rx.url, headers: { Authorization: AUTH } });
  await env.lab.fault('tapesrv', 'write-fail file=3 always');
  const handle = await env.start({ retry: { maxAttempts: 1 } });
  const p = await waiting(handle);
  const n = await rx.notice('waiting');
  const runId = (await handle.describe()).runId;
  assert.equal(rx.got[0]!.auth, AUTH, 'the configured header goes with the request');
  assert.equal(n.event, 'waiting');
  assert.equal(n.waitingFor, 'operator');
  assert.equal(n.backupId, p.backupId);
  assert.equal(n.workflowId, handle.workflowId);
  assert.equal(n.runId, runId);
  assert.equal(n.source, 'aix01');
  assert.equal(n.tapeHost, 'tapesrv');
  assert.equal(n.drive, 'tapesrv:rmt0');
  assert.equal(n.stage, 'tape-write');
  assert.equal(n.record, 3);
  assert.equal(n.reason, p.waiting!.reason);
  assert.equal(n.until, p.waiting!.until);
  assert.equal(n.uiUrl, `${UI}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}/${runId}`);
  assert.equal(n.cli, `mksysb-tape retry ${handle.workflowId}`);
  assert.equal(n.abortCli, `mksysb-tape abort ${handle.workflowId}`);
  assert.equal(n.outcome, undefined);
  assertNoSecrets(env, rx.got.map((g) => g.body).join('\n'));

  await env.lab.clearFaults('tapesrv');
  await handle.signal('retry', {});
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.verification.readBack, true);
  const r = await rx.notice('resumed');
  assert.equal(r.outcome, 'retry');
  assert.equal(r.workflowId, handle.workflowId);
  assert.equal(r.drive, 'tapesrv:rmt0');
  assert.deepEqual(rx.delivered().map((d) => d.event), ['waiting', 'resumed'], 'one notice each, in order');
  assertNoSecrets(env, rx.got.map((g) => g.body).join('\n'));
});

test('a receiver that fails twice still gets the notice, the run waiting meanwhile; an abort is told before the run ends', async () => {
  const rx = await receiver([500, 500]);
  const env = await notifyEnv({ webhook: rx.url });
  await env.lab.fault('tapesrv', 'write-fail file=4 always');
  const handle = await env.start({ retry: { maxAttempts: 1 } });
  await waiting(handle);
  const waitingSeen = Date.now();
  const n = await rx.notice('waiting');
  assert.equal(n.record, 4);
  assert.deepEqual(rx.got.map((g) => g.status), [500, 500, 200], 'delivered on the third attempt');
  assert.ok(waitingSeen < rx.got[2]!.at, 'the run waited for its operator before the notice got through');
  assert.ok((await handle.query<BackupProgress>('progress')).waiting, 'and still waits');

  await handle.signal('abort', { reason: 'cartridge damaged' });
  await assert.rejects(handle.result(), WorkflowFailedError);
  // The run ended after its last notice was delivered, not before.
  const last = rx.delivered().at(-1)!;
  assert.equal(last.event, 'resumed');
  assert.equal(last.outcome, 'abort');
});

test('a command channel gets the same JSON on stdin, and variables without the worker\'s secrets; a channel already reached is not sent to again', async () => {
  const rx = await receiver();
  const env = await backupEnv({ worker: false });
  const dir = env.tmp;
  // The first run of the command fails (a mail relay down), so the attempt is retried; the webhook, reached by the
  // first attempt, must not get the notice twice.
  const command = [
    `n=$(cat ${dir}/tries 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${dir}/tries`,
    `if [ $n -eq 1 ]; then echo 'relay down' >&2; exit 75; fi`,
    `cat > ${dir}/notice-$MKSYSB_TAPE_NOTICE_EVENT.json`,
    `env > ${dir}/env-$MKSYSB_TAPE_NOTICE_EVENT`,
  ].join('\n');
  await startProjectWorker({
    config: { ...env.config, notify: { uiUrl: UI, webhook: rx.url, headers: { Authorization: AUTH }, command } },
    activityDeps: { pollIntervalMs: 200 },
  });
  await env.lab.fault('tapesrv', 'write-fail file=2 always');
  const handle = await env.start({ retry: { maxAttempts: 1 } });
  await waiting(handle);
  const file = path.join(dir, 'notice-waiting.json');
  await waitFor('the command to write the notice', async () => fs.existsSync(file) && fs.statSync(file).size > 0);
  const viaCommand = JSON.parse(fs.readFileSync(file, 'utf8')) as WaitNotice;
  const viaWebhook = await rx.notice('waiting');
  assert.deepEqual(viaCommand, viaWebhook, 'the same notice on both channels');
  assert.equal(viaCommand.cli, `mksysb-tape retry ${handle.workflowId}`);
  assert.equal(fs.readFileSync(path.join(dir, 'tries'), 'utf8').trim(), '2', 'the command ran again after it failed');
  assert.equal(rx.got.length, 1, 'the webhook got the notice once, though the attempt was retried');
  const vars = fs.readFileSync(path.join(dir, 'env-waiting'), 'utf8');
  assert.match(vars, new RegExp(`^MKSYSB_TAPE_NOTICE_WORKFLOW_ID=${handle.workflowId}$`, 'm'));
  assert.match(vars, /^MKSYSB_TAPE_NOTICE_DRIVE=tapesrv:rmt0$/m);
  assert.match(vars, /^MKSYSB_TAPE_NOTICE_SUBJECT=mksysb-tape: .* waits for an operator$/m);
  assertNoSecrets(env, fs.readFileSync(file, 'utf8') + vars);

  await env.lab.clearFaults('tapesrv');
  await handle.signal('retry', {});
  await handle.result();
  const resumed = path.join(dir, 'notice-resumed.json');
  await waitFor('the "resumed" notice from the command', async () => fs.existsSync(resumed) && fs.statSync(resumed).size > 0);
  assert.equal((JSON.parse(fs.readFileSync(resumed, 'utf8')) as WaitNotice).outcome, 'retry');
});

test('a dead webhook does not keep the run from waiting for its operator and going on', async () => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const env = await notifyEnv({ webhook: `http://127.0.0.1:${port}/mksysb` });
  await env.lab.fault('tapesrv', 'write-fail file=3 always');
  const handle = await env.start({ retry: { maxAttempts: 1 } });
  const p = await waiting(handle);
  assert.equal(p.outcome, 'waiting');
  await env.lab.clearFaults('tapesrv');
  const answer = await handle.executeUpdate<string, [object]>('retryNow', { args: [{}] });
  assert.match(answer, /^retrying tape-write/);
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.verification.readBack, true);
  // The notice was tried, and is still being tried while the run went on.
  const history = await handle.fetchHistory();
  const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'notifyPeople');
  assert.ok(scheduled.length >= 1, 'the run scheduled its notice');
});

test('a wait that ends by a cancel request or by its time-out is told, before the run ends', async () => {
  const rx = await receiver();
  const env = await notifyEnv({ webhook: rx.url });
  await env.lab.fault('tapesrv', 'write-fail file=1 always');
  const cancelled = await env.start({ retry: { maxAttempts: 1 } });
  await waiting(cancelled);
  await rx.notice('waiting');
  await cancelled.cancel();
  await assert.rejects(cancelled.result(), WorkflowFailedError);
  const ofRun = (id: string) => rx.delivered().filter((d) => d.workflowId === id);
  assert.deepEqual(ofRun(cancelled.workflowId).map((d) => [d.event, d.outcome]), [['waiting', undefined], ['resumed', 'cancelled']]);
  assert.equal((await cancelled.query<BackupProgress>('progress')).outcome, 'cancelled');

  // 0.002 h: the run waits 7.2 s for an operator who does not come.
  const timedOut = await env.start({ retry: { maxAttempts: 1 }, operatorWaitHours: 0.002 });
  await assert.rejects(timedOut.result(), (err: unknown) => err instanceof WorkflowFailedError && /no operator answered/.test((err.cause as Error).message));
  assert.deepEqual(ofRun(timedOut.workflowId).map((d) => [d.event, d.outcome]), [['waiting', undefined], ['resumed', 'timeout']]);
});

test('a run that waits for the next cartridge tells people which volume, on which drive, and the line that answers', async () => {
  const rx = await receiver();
  const env = await notifyEnv({ webhook: rx.url, headers: { Authorization: AUTH } }, { tapeHosts: [{ name: 'tapesrv', os: 'aix', drives: 1, capacityBytes: 2 << 20 }] });
  const handle = await env.start({ maxVolumes: 3 });
  const n = await rx.notice('waiting');
  assert.equal(n.waitingFor, 'cartridge');
  assert.equal(n.volume, 2);
  assert.equal(n.volumesLeft, 1);
  assert.equal(n.drive, 'tapesrv:rmt0');
  assert.equal(n.cli, `mksysb-tape volume-loaded ${handle.workflowId}`);
  assert.equal(n.abortCli, `mksysb-tape abort ${handle.workflowId}`);
  assert.match(n.reason, /load the cartridge for volume 2 into tapesrv:rmt0/);
  assertNoSecrets(env, JSON.stringify(n));
  env.lab.load('tapesrv', 'rmt0');
  await handle.signal('volumeLoaded', {});
  const back = await waitFor('the volume 2 "resumed" notice', async () => rx.delivered().find((x) => x.event === 'resumed' && x.volume === 2));
  assert.equal(back.outcome, 'volume-loaded');
  await waitFor('the wait for volume 3', async () => rx.delivered().find((x) => x.event === 'waiting' && x.volume === 3));
  env.lab.load('tapesrv', 'rmt0');
  await handle.signal('volumeLoaded', {});
  const result = (await handle.result()) as BackupResult;
  assert.equal(result.volumes?.length, 3);
});
