/**
 * The drive fence's shell (src/tape/fence.ts) run under the Korn shells the lab offers (lksh as ksh88, ksh93) and dash,
 * with real processes: a newer attempt takes the drive and stops the older one's command lines; the older one cannot
 * take it back; a re-attached detached write is spared.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { claim, guard, parseSuperseded, SUPERSEDED_EXIT, tokenFor } from '../../src/tape/fence';
import { quote } from '../../src/tape/shell';
import { alive } from '../helpers/processes';

const SHELLS = ['/usr/bin/lksh', '/usr/bin/ksh93', '/bin/dash'].filter((s) => existsSync(s));

const tok = (ms: number, attempt = 1, id = '7') => tokenFor({ scheduledMs: ms, attempt, activityId: id });

function run(shell: string, script: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(shell, ['-c', script], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}


async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('tokens order by the attempt\'s scheduled time, then attempt, then activity ID, as strings of one width', () => {
  const a = tok(1_700_000_000_000, 1, '12');
  const b = tok(1_700_000_000_001, 1, '3');
  const c = tok(1_700_000_000_001, 2, '3');
  assert.equal(a.length, 29);
  assert.ok(a < b && b < c);
  assert.throws(() => tokenFor({ scheduledMs: -1, attempt: 1, activityId: '1' }));
});

test('claim and guard refuse names that could not be fields of the holders file', () => {
  assert.throws(() => claim('/w', 'rmt0 x', tok(1)), /tape device name/);
  assert.throws(() => guard('/w', 'rmt0', tok(1), 'true', { name: 'a b' }), /detached command name/);
  assert.throws(() => guard('/w', 'rmt0', 'x', 'true'), /29 digits/);
});

for (const shell of SHELLS) {
  const sh = shell.split('/').pop();

  test(`${sh}: a newer attempt takes the drive; the older one can neither run a command line nor take it back`, () => {
    const dir = mkdtempSync(join(tmpdir(), "fence '$x' "));
    try {
      const work = join(dir, 'work');
      const marks = join(dir, 'ran');
      const t1 = tok(1000);
      const t2 = tok(2000);
      assert.match(run(shell, claim(work, 'rmt0', t1)).stdout, new RegExp(`owner ${t1}`));
      assert.equal(run(shell, guard(work, 'rmt0', t1, `echo t1 >> ${quote(marks)}`)).code, 0);
      assert.match(run(shell, claim(work, 'rmt0', t2)).stdout, new RegExp(`owner ${t2}`));
      const late = run(shell, guard(work, 'rmt0', t1, `echo t1-late >> ${quote(marks)}`));
      assert.equal(late.code, SUPERSEDED_EXIT);
      assert.equal(parseSuperseded(late.stdout), t2);
      const back = run(shell, claim(work, 'rmt0', t1));
      assert.equal(back.code, SUPERSEDED_EXIT);
      assert.equal(parseSuperseded(back.stdout), t2);
      assert.equal(run(shell, guard(work, 'rmt0', t2, `echo t2 >> ${quote(marks)}`)).code, 0);
      // a command line's own exit status comes through
      assert.equal(run(shell, guard(work, 'rmt0', t2, 'exit 3')).code, 3);
      assert.equal(readFileSync(marks, 'utf8'), 't1\nt2\n');
      // another drive has its own fence
      assert.equal(run(shell, claim(work, 'rmt1', t1)).code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${sh}: a claim stops the older attempt's running command lines with their children, but spares the kept detached write`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fence-'));
    const started: ReturnType<typeof spawn>[] = [];
    try {
      const work = join(dir, 'work');
      const t1 = tok(1000);
      const t2 = tok(2000);
      assert.equal(run(shell, claim(work, 'rmt0', t1)).code, 0);
      // Two command lines of the older attempt, each with a child (as tctl/dd under a session's shell):
      // a read-back, and the detached write this newer attempt re-attaches to.
      const line = (name: string, opts: { name?: string } = {}) =>
        guard(work, 'rmt0', t1, `sleep 60 & echo $! > '${join(dir, `${name}.child`)}'; echo $$ > '${join(dir, `${name}.pid`)}'; wait`, opts);
      started.push(spawn(shell, ['-c', line('read')], { stdio: 'ignore' }));
      started.push(spawn(shell, ['-c', line('write', { name: 'write-r4-g1' })], { stdio: 'ignore' }));
      const pidOf = (f: string) => Number(readFileSync(join(dir, f), 'utf8'));
      await until('both command lines to start', () => ['read.child', 'write.child'].every((f) => existsSync(join(dir, f)) && readFileSync(join(dir, f), 'utf8').trim() !== ''));
      const read = { shell: pidOf('read.pid'), child: pidOf('read.child') };
      const write = { shell: pidOf('write.pid'), child: pidOf('write.child') };
      const r = run(shell, claim(work, 'rmt0', t2, { keep: 'write-r4-g1' }));
      assert.equal(r.code, 0, r.stderr);
      await until('the older read-back and its child to be gone', () => !alive(read.shell) && !alive(read.child));
      assert.ok(alive(write.shell) && alive(write.child), 'the kept detached write runs on');
      // The spared write now counts as the newer attempt's: a third attempt, which keeps nothing, stops it.
      started.push(spawn(shell, ['-c', guard(work, 'rmt0', t2, `sleep 60 & echo $! > '${join(dir, 'read2.child')}'; wait`)], { stdio: 'ignore' }));
      await until('a second read-back to start', () => existsSync(join(dir, 'read2.child')) && readFileSync(join(dir, 'read2.child'), 'utf8').trim() !== '');
      const read2 = pidOf('read2.child');
      assert.equal(run(shell, claim(work, 'rmt0', tok(3000))).code, 0);
      await until('the write and the read-back to be stopped by a third attempt', () => !alive(write.shell) && !alive(write.child) && !alive(read2));
    } finally {
      for (const c of started) c.kill('SIGKILL');
      spawnSync('pkill', ['-f', `sleep 60`]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${sh}: claims racing in any order leave the newest owner`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fence-race-'));
    try {
      const work = join(dir, 'work');
      const tokens = Array.from({ length: 16 }, (_, i) => tok(1000 + ((i * 7) % 16)));
      const results = await Promise.all(
        tokens.map(
          (t) =>
            new Promise<number | null>((resolve) => {
              const c = spawn(shell, ['-c', claim(work, 'rmt0', t)], { stdio: 'ignore' });
              c.on('exit', (code) => resolve(code));
            }),
        ),
      );
      const newest = [...tokens].sort().pop()!;
      assert.equal(readFileSync(join(work, '.mksysb-tape-drive-rmt0.owner'), 'utf8').trim(), newest);
      assert.equal(results[tokens.indexOf(newest)], 0, 'the newest claim succeeded');
      assert.ok(!existsSync(join(work, '.mksysb-tape-drive-rmt0.lk')), 'the mutex is released');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
