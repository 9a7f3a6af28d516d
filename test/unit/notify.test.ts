/**
 * The notification channels outside Temporal (src/activities/notify.ts): the configuration from the environment, the
 * link to the run, the words and variables a command gets, and what counts as a failed webhook or command.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { loadConfig } from '../../temporal.config';
import { alive } from '../helpers/processes';
import { noticeEnv, notifyActivities, runUiUrl, type NoticeInput } from '../../src/activities/notify';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'notify-unit-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const input: NoticeInput = {
  event: 'waiting',
  waitingFor: 'operator',
  backupId: 'mksysb-tape_aix01_2026-12-02',
  workflowId: 'mksysb-tape/aix01/2026-12-02',
  runId: '0190-run',
  namespace: 'default',
  source: 'aix01',
  tapeHost: 'tapesrv',
  drive: 'tapesrv:rmt0',
  stage: 'tape-write',
  record: 3,
  reason: 'write record 3 to tapesrv:rmt0 on tapesrv failed (exit status 2)',
  until: '2026-12-03T06:00:00.000Z',
  cli: 'mksysb-tape retry mksysb-tape/aix01/2026-12-02',
  abortCli: 'mksysb-tape abort mksysb-tape/aix01/2026-12-02',
};

/** A receiver answering each POST with the next status of `statuses` (then 200); what it got, in order. */
async function receiver(statuses: number[] = []): Promise<{ url: string; got: { status: number; body: string; auth?: string }[] }> {
  const got: { status: number; body: string; auth?: string }[] = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      const status = statuses[got.length] ?? 200;
      got.push({ status, body, auth: req.headers.authorization });
      res.writeHead(status).end('echo: ' + JSON.stringify(req.headers));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  after(() => new Promise<void>((r) => srv.close(() => r())));
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}/hooks/t0k3n-in-path`, got };
}

test('configuration: no channel by default, the UI on localhost:8233; the variables name each channel', () => {
  const none = loadConfig({}).notify;
  assert.deepEqual(none, { uiUrl: 'http://localhost:8233' });
  const all = loadConfig({
    MKSYSB_TAPE_NOTIFY_WEBHOOK: 'https://hooks.example.com/x',
    MKSYSB_TAPE_NOTIFY_HEADERS: '{"Authorization": "Bearer s3cr3t"}',
    MKSYSB_TAPE_NOTIFY_COMMAND: 'mail -s x ops',
    MKSYSB_TAPE_UI_URL: 'https://temporal.example.com/',
  }).notify;
  assert.deepEqual(all, {
    webhook: 'https://hooks.example.com/x',
    headers: { Authorization: 'Bearer s3cr3t' },
    command: 'mail -s x ops',
    uiUrl: 'https://temporal.example.com',
  });
});

test('configuration errors name the variable and never echo the headers', () => {
  assert.throws(() => loadConfig({ MKSYSB_TAPE_NOTIFY_WEBHOOK: 'ftp://x/y' }), /MKSYSB_TAPE_NOTIFY_WEBHOOK must be an http/);
  assert.throws(() => loadConfig({ MKSYSB_TAPE_UI_URL: 'localhost:8233' }), /MKSYSB_TAPE_UI_URL must be an http/);
  for (const bad of ['Bearer s3cr3t', '{"Authorization": 7}', '["s3cr3t"]', '{"Bad Name": "s3cr3t"}', '{"X": "s3cr3t\\r\\nInjected: 1"}']) {
    assert.throws(
      () => loadConfig({ MKSYSB_TAPE_NOTIFY_HEADERS: bad }),
      (err: Error) => /^MKSYSB_TAPE_NOTIFY_HEADERS /.test(err.message) && !err.message.includes('s3cr3t'),
      bad,
    );
  }
});

test('the link to the run is the Web UI\'s: namespace, URI-encoded workflow ID, run ID', () => {
  assert.equal(
    runUiUrl('http://localhost:8233/', 'default', 'mksysb-tape/aix01/2026-12-02', 'abc'),
    'http://localhost:8233/namespaces/default/workflows/mksysb-tape%2Faix01%2F2026-12-02/abc',
  );
});

test('a command gets the notice as variables too, with a subject and a text for mail', () => {
  const env = noticeEnv({ ...input, uiUrl: 'http://ui/x' });
  assert.equal(env.MKSYSB_TAPE_NOTICE_EVENT, 'waiting');
  assert.equal(env.MKSYSB_TAPE_NOTICE_DRIVE, 'tapesrv:rmt0');
  assert.equal(env.MKSYSB_TAPE_NOTICE_RECORD, '3');
  assert.equal(env.MKSYSB_TAPE_NOTICE_CLI, input.cli);
  assert.equal(env.MKSYSB_TAPE_NOTICE_OUTCOME, undefined);
  assert.match(env.MKSYSB_TAPE_NOTICE_SUBJECT!, /mksysb-tape_aix01_2026-12-02 \(aix01 to tapesrv:rmt0\) waits for an operator/);
  assert.match(env.MKSYSB_TAPE_NOTICE_TEXT!, /answer with: mksysb-tape retry mksysb-tape\/aix01\/2026-12-02\nor stop it with: mksysb-tape abort/);
  const resumed = noticeEnv({ ...input, event: 'resumed', outcome: 'retry', uiUrl: 'http://ui/x' });
  assert.match(resumed.MKSYSB_TAPE_NOTICE_SUBJECT!, /no longer waits for an operator: retry$/);
});

test('no channel: returns at once, saying so', async () => {
  const r = await notifyActivities({ uiUrl: 'http://ui' }).notifyPeople(input);
  assert.deepEqual(r.sent, []);
  assert.match(r.note!, /no notification channel configured/);
  assert.match((await notifyActivities(undefined).notifyPeople(input)).note!, /no notification channel/);
});

test('webhook: the JSON notice with its link, the headers sent; a non-2xx answer fails retryably without URL or headers in the error', async () => {
  const rx = await receiver([500]);
  const notify = notifyActivities({ webhook: rx.url, headers: { Authorization: 'Bearer s3cr3t' }, uiUrl: 'http://ui:8233' });
  await assert.rejects(notify.notifyPeople(input), (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, false);
    assert.equal(err.type, 'NotifyFailed');
    assert.match(err.message, /webhook: the webhook answered 500 Internal Server Error/);
    assert.ok(!err.message.includes('s3cr3t') && !err.message.includes('t0k3n') && !err.message.includes('echo'), err.message);
    return true;
  });
  assert.deepEqual(await notify.notifyPeople(input), { sent: ['webhook'] });
  assert.equal(rx.got.length, 2);
  assert.equal(rx.got[1]!.auth, 'Bearer s3cr3t');
  const body = JSON.parse(rx.got[1]!.body) as Record<string, unknown>;
  assert.deepEqual(body, { ...input, uiUrl: 'http://ui:8233/namespaces/default/workflows/mksysb-tape%2Faix01%2F2026-12-02/0190-run' });
  assert.ok(!rx.got[1]!.body.includes('s3cr3t'));
});

test('webhook: a closed port and a receiver that does not answer are failures', async () => {
  const srv = http.createServer(() => undefined); // never answers
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  await assert.rejects(
    notifyActivities({ webhook: `http://127.0.0.1:${port}/`, uiUrl: 'http://ui', webhookTimeoutMs: 300 }).notifyPeople(input),
    /the webhook did not answer within 0.3 s/,
  );
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await assert.rejects(
    notifyActivities({ webhook: `http://127.0.0.1:${closedPort}/`, uiUrl: 'http://ui' }).notifyPeople(input),
    /the webhook could not be reached \(ECONNREFUSED\)/,
  );
});

test('command: the JSON on stdin and the variables, no worker secrets in its environment; a non-zero exit and the time limit are failures', async () => {
  process.env.MKSYSB_TAPE_NOTIFY_HEADERS = '{"Authorization": "Bearer s3cr3t"}';
  process.env.TEMPORAL_API_KEY = 'k3y-s3cr3t';
  after(() => {
    delete process.env.MKSYSB_TAPE_NOTIFY_HEADERS;
    delete process.env.TEMPORAL_API_KEY;
  });
  const out = path.join(tmp, 'notice.json');
  const envOut = path.join(tmp, 'notice.env');
  const ok = notifyActivities({ command: `cat > ${out}; env > ${envOut}`, uiUrl: 'http://ui' });
  assert.deepEqual(await ok.notifyPeople(input), { sent: ['command'] });
  assert.equal(JSON.parse(fs.readFileSync(out, 'utf8')).workflowId, input.workflowId);
  const env = fs.readFileSync(envOut, 'utf8');
  assert.match(env, /^MKSYSB_TAPE_NOTICE_BACKUP_ID=mksysb-tape_aix01_2026-12-02$/m);
  assert.match(env, /^PATH=/m);
  assert.ok(!env.includes('s3cr3t') && !env.includes('TEMPORAL_API_KEY'), 'no worker credentials in the command\'s environment');

  await assert.rejects(
    notifyActivities({ command: 'echo relay down >&2; exit 75', uiUrl: 'http://ui' }).notifyPeople(input),
    (err: ApplicationFailure) => err.nonRetryable === false && /command: the command exited with status 75: relay down/.test(err.message),
  );
  // `true` does not read its stdin: that is no failure.
  assert.deepEqual(await notifyActivities({ command: 'true', uiUrl: 'http://ui' }).notifyPeople(input), { sent: ['command'] });
  const t0 = Date.now();
  const pidFile = path.join(tmp, 'sleeper.pid');
  await assert.rejects(
    notifyActivities({ command: `sleep 30 & echo $! > ${pidFile}; wait`, uiUrl: 'http://ui', commandTimeoutMs: 300 }).notifyPeople(input),
    /the command did not finish within 0.3 s/,
  );
  assert.ok(Date.now() - t0 < 10_000);
  // The time limit stops what the command line started, not only its shell.
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(alive(pid), false, 'the sleep the command started was killed with it');
});
