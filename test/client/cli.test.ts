/**
 * bin/mksysb-tape as an operator runs it, in a child process, against the dev server, a worker and the lab:
 * start --wait prints progress and exits 0; a failing run exits 1 with the reason; retry and abort; list; schedules;
 * inventory check; --json parses everywhere; exit codes 2 (bad input) and 3 (no Temporal).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { clientEnv, eventually, runCli } from './env';

const TAPE = 'tapesrv:rmt0';

test('mksysb-tape CLI', async (t) => {
  const env = await clientEnv();
  const { lab, api } = env;
  const cli = (args: string[], opts?: { timeoutMs?: number }) => runCli(args, env.cliEnv(), opts);

  await t.test('start --wait prints progress for each stage and record and exits 0', async () => {
    const id = env.newId();
    const r = await cli(['start', '--source', 'aix01', '--tape', TAPE, '--workflow-id', id, '--wait', '--interval', '200']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`started ${id}`));
    assert.match(r.stdout, /write record 4\/4/);
    assert.match(r.stdout, /write record 1\/4/);
    assert.match(r.stdout, /verif/);
    assert.match(r.stdout, /backup .* succeeded/);
    assert.match(r.stdout, /record 4 mksysb/);
    assert.match(r.stdout, /read-back all records match/);
  });

  await t.test('--json start --wait, status and list print JSON that parses', async () => {
    const id = env.newId();
    const r = await cli(['--json', 'start', '--input', '{"source":"aix01","tape":{"host":"tapesrv","device":"rmt0"}}', '--overwrite', '--workflow-id', id, '--wait']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { workflowId: string; status: string; result: { records: unknown[] }; outcome: string };
    assert.equal(out.workflowId, id);
    assert.equal(out.status, 'COMPLETED');
    assert.equal(out.outcome, 'succeeded');
    assert.equal(out.result.records.length, 4);

    const st = await cli(['--json', 'status', id]);
    assert.equal(st.code, 0);
    assert.equal((JSON.parse(st.stdout) as { result: { backupId: string } }).result.backupId, id.replace(/\//g, '_'));

    const list = await eventually('the run in list --json', async () => {
      const l = await cli(['--json', 'list', '--source', 'aix01', '--outcome', 'succeeded']);
      const runs = JSON.parse(l.stdout) as Array<{ workflowId: string }>;
      return runs.some((x) => x.workflowId === id) ? runs : undefined;
    });
    assert.ok(list.length >= 1);

    const again = await cli(['--json', 'start', '--source', 'aix01', '--tape', TAPE, '--workflow-id', id]);
    assert.equal(again.code, 2);
    assert.match((JSON.parse(again.stdout) as { error: { message: string } }).error.message, /already succeeded/);
  });

  await t.test('a failing run exits 1 and says why', async () => {
    await lab.fault('tapesrv', 'write-fail file=4 always');
    try {
      const id = env.newId();
      const r = await cli(['start', '--source', 'aix01', '--tape', TAPE, '--overwrite', '--workflow-id', id, '--max-attempts', '1', '--wait-hours', '0', '--wait']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, new RegExp(`backup ${id} ended failed: .*record 4`));
      const st = await cli(['status', id]);
      assert.equal(st.code, 1);
      assert.match(st.stdout, /reason: .*record 4/);
      const failed = await eventually('the failed run in list', async () => {
        const l = await cli(['list', '--source', 'aix01', '--outcome', 'failed']);
        return l.stdout.includes(id) ? l.stdout : undefined;
      });
      assert.match(failed, /WORKFLOW ID\s+STATUS\s+OUTCOME/);
    } finally {
      await lab.clearFaults('tapesrv');
    }
  });

  await t.test('a waiting run: status names the reason; retry --from-record answers it; abort stops another', async () => {
    await lab.fault('tapesrv', 'write-fail file=3 always');
    const id = env.newId();
    const start = await cli(['start', '--source', 'aix01', '--tape', TAPE, '--overwrite', '--workflow-id', id, '--max-attempts', '1']);
    assert.equal(start.code, 0, start.stderr);
    assert.match(start.stdout, /mksysb-tape watch /);
    const waiting = await eventually('status to show WAITING', async () => {
      const s = await cli(['status', id]);
      return /WAITING for an operator/.test(s.stdout) ? s.stdout : undefined;
    });
    assert.match(waiting, /answer with: mksysb-tape retry/);
    const notWaiting = await cli(['retry', 'mksysb-tape/aix01/no-such-run']);
    assert.equal(notWaiting.code, 2);
    assert.match(notWaiting.stderr, /no backup with workflow ID/);
    // The run waits for an operator, not for a cartridge: volume-loaded is refused, saying so.
    const noCartridge = await cli(['volume-loaded', id, '--volume', '2']);
    assert.equal(noCartridge.code, 2, noCartridge.stderr);
    assert.match(noCartridge.stderr, /volume-loaded of .* was refused: .*the run is not waiting for a cartridge/);

    await lab.clearFaults('tapesrv');
    const retry = await cli(['retry', id, '--from-record', '2', '--reason', 'new cartridge']);
    assert.equal(retry.code, 0, retry.stderr);
    const watch = await cli(['watch', id]);
    assert.equal(watch.code, 0, watch.stderr);
    const result = await api.result(id);
    assert.equal(result.records.find((r) => r.record === 2)!.writes, 2);

    await lab.fault('tapesrv', 'write-fail file=1 always');
    const id2 = env.newId();
    await cli(['start', '--source', 'aix01', '--tape', TAPE, '--overwrite', '--workflow-id', id2, '--max-attempts', '1']);
    await eventually('the second run to wait', async () => ((await api.status(id2)).progress?.waiting ? true : undefined));
    const abort = await cli(['--json', 'abort', id2, '--reason', 'drive replaced']);
    assert.equal(abort.code, 0, abort.stderr);
    assert.match((JSON.parse(abort.stdout) as { answer: string }).answer, /aborting: drive replaced/);
    const w = await cli(['watch', id2]);
    assert.equal(w.code, 1);
    assert.match(w.stderr, /was aborted: .*drive replaced/);
    await lab.clearFaults('tapesrv');
  });

  await t.test('bad input exits 2 before contacting Temporal; no Temporal exits 3', async () => {
    const bad = await runCli(['start', '--source', 'aix01', '--tape', TAPE, '--record4-block-size', '1000'], { ...env.cliEnv(), TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /record4BlockSize 1000: must be a multiple of 512/);
    const tape = await cli(['start', '--source', 'aix01', '--tape', 'tapesrv']);
    assert.equal(tape.code, 2);
    assert.match(tape.stderr, /--tape must be HOST:DEVICE/);
    const usage = await cli(['start', '--verify', 'sometimes', '--source', 'aix01', '--tape', TAPE]);
    assert.equal(usage.code, 2);
    const down = await runCli(['--json', 'list'], { ...env.cliEnv(), TEMPORAL_ADDRESS: '127.0.0.1:1' });
    assert.equal(down.code, 3);
    assert.match((JSON.parse(down.stdout) as { error: { message: string } }).error.message, /cannot reach Temporal at 127\.0\.0\.1:1/);
  });

  await t.test('schedule create, list, pause, unpause, delete', async () => {
    const sid = `mksysb-tape/aix01/cli-${Math.random().toString(36).slice(2, 8)}`;
    const c = await cli(['schedule', 'create', '--id', sid, '--source', 'aix01', '--tape', TAPE, '--cron', '0 2 * * *', '--time-zone', 'Europe/Berlin', '--paused']);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, new RegExp(`created schedule ${sid} \\(paused\\)`));
    const l = await cli(['--json', 'schedule', 'list']);
    const mine = (JSON.parse(l.stdout) as Array<{ scheduleId: string; paused: boolean; timeZone: string }>).find((s) => s.scheduleId === sid);
    assert.ok(mine);
    assert.equal(mine.paused, true);
    assert.equal(mine.timeZone, 'Europe/Berlin');
    assert.equal((await cli(['schedule', 'unpause', sid])).code, 0);
    assert.equal((await api.describeSchedule(sid)).paused, false);
    assert.equal((await cli(['schedule', 'pause', sid, '--note', 'holiday'])).code, 0);
    assert.equal((await api.describeSchedule(sid)).note, 'holiday');
    const human = await cli(['schedule', 'list']);
    assert.match(human.stdout, new RegExp(`${sid}\\s+paused`));
    assert.equal((await cli(['schedule', 'delete', sid])).code, 0);
    const gone = await cli(['schedule', 'pause', sid]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /no schedule/);
  });

  await t.test('inventory check: all fine on the lab (exit 0); a wrong host key and a missing folder are problems (exit 4)', async () => {
    const ok = await cli(['--json', 'inventory', 'check', '--min-free', '1']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const report = JSON.parse(ok.stdout) as { ok: boolean; hosts: Array<{ host: string; hostKey: string; commands: Record<string, string | null> }> };
    assert.equal(report.ok, true);
    const src = report.hosts.find((h) => h.host === 'aix01')!;
    assert.deepEqual(Object.keys(src.commands).sort(), ['bosboot', 'mkinsttape', 'mksysb', 'openssl']);
    const tape = report.hosts.find((h) => h.host === 'tapesrv')!;
    assert.deepEqual(Object.keys(tape.commands).sort(), ['chdev', 'dd', 'lsmksysb', 'mkfifo', 'od', 'openssl', 'restore', 'tctl', 'tee']);

    // Swap the pinned keys of the two hosts and point aix01 at a folder that does not exist.
    const inv = JSON.parse(fs.readFileSync(lab.inventoryPath, 'utf8')) as { hosts: Record<string, { hostKey: string; workFolder: string }> };
    const wrong = structuredClone(inv);
    wrong.hosts.tapesrv!.hostKey = inv.hosts.aix01!.hostKey;
    wrong.hosts.aix01!.workFolder = '/no/such/folder';
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inv-'));
    const file = path.join(dir, 'inventory.json');
    fs.writeFileSync(file, JSON.stringify(wrong));
    try {
      const bad = await cli(['inventory', 'check', '--inventory', file, '--min-free', '1']);
      assert.equal(bad.code, 4, bad.stdout + bad.stderr);
      assert.match(bad.stdout, /FAIL tapesrv/);
      assert.match(bad.stdout, /host key mismatch for tapesrv/);
      assert.match(bad.stdout, /update hostKey in the inventory/);
      assert.match(bad.stdout, /work folder \/no\/such\/folder does not exist on aix01: create it/);
      const missing = await cli(['inventory', 'check', '--inventory', path.join(dir, 'none.json')]);
      assert.equal(missing.code, 4);
      assert.match(missing.stdout, /the file does not exist/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
