import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { forget, outputTail, parseState, poll, start, stop } from '../../src/tape/detached';
import { command } from '../../src/tape/shell';
import { alive } from '../helpers/processes';

function sh(script: string): string {
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 0, `${script}\n${r.stderr}`);
  return r.stdout;
}

async function waitFor(dir: string, name: string, state: string, ms = 10000) {
  const until = Date.now() + ms;
  for (;;) {
    const s = parseState(sh(poll(dir, name)));
    if (s.state === state || Date.now() > until) return s;
    await sleep(50);
  }
}


test('start runs once: a second start while running or after it finished does not run it again', async () => {
  const dir = mkdtempSync(join(tmpdir(), "detached '$x' "));
  try {
    const work = join(dir, 'backup 1');
    // the command counts its runs in a file and prints a hostile string
    const cmd = `echo run >> runs; ${command(['printf', '%s\\n', "it's $(not) `run`"])}; sleep 1; exit 5`;
    assert.deepEqual(parseState(sh(poll(work, 'mksysb'))), { state: 'absent' });
    const s1 = parseState(sh(start(work, 'mksysb', cmd)));
    assert.equal(s1.state, 'started');
    const s2 = parseState(sh(start(work, 'mksysb', cmd)));
    assert.deepEqual(s2, { state: 'running', pid: s1.state === 'started' ? s1.pid : -1 });
    assert.deepEqual(await waitFor(work, 'mksysb', 'exited'), { state: 'exited', code: 5 });
    assert.deepEqual(parseState(sh(start(work, 'mksysb', cmd))), { state: 'exited', code: 5 });
    assert.equal(readFileSync(join(work, 'runs'), 'utf8'), 'run\n', 'ran exactly once');
    assert.equal(sh(outputTail(work, 'mksysb', 5)), "it's $(not) `run`\n");
    // forget clears the bookkeeping, so the next start runs it again
    sh(forget(work, 'mksysb'));
    assert.deepEqual(parseState(sh(poll(work, 'mksysb'))), { state: 'absent' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('exit status 0 and output survive the starting shell', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'detached-'));
  try {
    sh(start(dir, 'ok', 'echo done'));
    assert.deepEqual(await waitFor(dir, 'ok', 'exited'), { state: 'exited', code: 0 });
    assert.equal(sh(outputTail(dir, 'ok')), 'done\n');
    assert.equal(readFileSync(join(dir, 'ok.rc'), 'utf8'), '0\n');
    assert.equal(existsSync(join(dir, 'ok.rc.tmp')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stop kills the wrapper and every descendant, marks it stopped; start runs it again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'detached-'));
  try {
    // a pipeline and a background grandchild, like dd | openssl under a wrapper
    const cmd = `echo run >> runs; sh -c 'sleep 300 & echo $! > bg.pid; sleep 300 | cat; wait'`;
    const s = parseState(sh(start(dir, 'write4', cmd)));
    assert.equal(s.state, 'started');
    const pid = s.state === 'started' ? s.pid : 0;
    const until = Date.now() + 5000;
    while (!existsSync(join(dir, 'bg.pid')) && Date.now() < until) await sleep(20);
    await sleep(100);
    const bg = Number(readFileSync(join(dir, 'bg.pid'), 'utf8'));
    assert.ok(alive(pid) && alive(bg));
    assert.deepEqual(parseState(sh(stop(dir, 'write4'))), { state: 'stopped', pid });
    const deadline = Date.now() + 5000;
    while ((alive(pid) || alive(bg)) && Date.now() < deadline) await sleep(50);
    assert.equal(alive(pid), false, 'wrapper gone');
    assert.equal(alive(bg), false, 'grandchild gone');
    const leftovers = spawnSync('pgrep', ['-f', 'sleep 300'], { encoding: 'utf8' }).stdout.trim();
    for (const p of leftovers.split('\n').filter(Boolean)) {
      const cwd = spawnSync('readlink', [`/proc/${p}/cwd`], { encoding: 'utf8' }).stdout.trim();
      assert.notEqual(cwd, dir, `sleep ${p} survived`);
    }
    assert.deepEqual(parseState(sh(poll(dir, 'write4'))), { state: 'stopped', pid });
    // stopping again is harmless
    assert.equal(parseState(sh(stop(dir, 'write4'))).state, 'stopped');
    // a stopped command is started again by start
    const again = parseState(sh(start(dir, 'write4', 'echo run >> runs')));
    assert.equal(again.state, 'started');
    assert.deepEqual(await waitFor(dir, 'write4', 'exited'), { state: 'exited', code: 0 });
    assert.equal(readFileSync(join(dir, 'runs'), 'utf8'), 'run\nrun\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a vanished command (pid file, no process, no status) is reported, and start runs it again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'detached-'));
  try {
    const s = parseState(sh(start(dir, 'm', 'sleep 300')));
    const pid = s.state === 'started' ? s.pid : 0;
    // simulate a host crash: kill everything without the wrapper writing its status
    sh(stop(dir, 'm', 'KILL'));
    rmSync(join(dir, 'm.stopped'));
    assert.deepEqual(await waitFor(dir, 'm', 'vanished'), { state: 'vanished', pid });
    assert.equal(parseState(sh(start(dir, 'm', 'true'))).state, 'started');
    assert.deepEqual(await waitFor(dir, 'm', 'exited'), { state: 'exited', code: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseState and argument checks', () => {
  assert.deepEqual(parseState('noise\nmksysb-tape-detached running 42\n'), { state: 'running', pid: 42 });
  assert.deepEqual(parseState('mksysb-tape-detached exited 0'), { state: 'exited', code: 0 });
  assert.deepEqual(parseState('mksysb-tape-detached stopped '), { state: 'stopped', pid: null });
  assert.throws(() => parseState('nothing'));
  assert.throws(() => parseState('mksysb-tape-detached running x'));
  assert.throws(() => start('relative', 'a', 'true'));
  assert.throws(() => start('/w', 'a/b', 'true'));
  assert.throws(() => start('/w', '-a', 'true'));
  assert.throws(() => start('/w', 'a', '  '));
});
