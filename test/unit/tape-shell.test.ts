import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  and,
  assertAbsolutePath,
  assertName,
  assertSegment,
  command,
  group,
  joinPath,
  killOnHangup,
  or,
  parsePipeStatus,
  pipe,
  pipeWithStatus,
  quote,
  redirectOut,
  seq,
  ShellValueError,
} from '../../src/tape/shell';

const SHELLS = ['/bin/sh', '/bin/bash'].filter((s) => spawnSync(s, ['-c', 'true']).status === 0);

function run(shell: string, script: string, input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(shell, ['-c', script], { input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const HOSTILE = [
  '',
  ' ',
  "it's",
  "''",
  "'\\''",
  '"double" quotes',
  '$(touch /tmp/mksysb-tape-pwned)',
  '`touch /tmp/mksysb-tape-pwned`',
  '$HOME ${HOME} $1 $@ $*',
  'a;b && c || d | e & f',
  'line one\nline two\n',
  '\ttab\r\n',
  'glob * ? [a-z] ~root',
  '-n',
  '--',
  'back\\slash\\',
  'Ünïcödé ☃ 日本語 🐧',
  '> /tmp/x < /tmp/y 2>&1',
  '#comment',
  'FOO=bar',
  '!event',
  '{a,b}',
  '\x01\x1b[31mansi\x7f',
];

test('quote: every hostile string reaches printf as one literal argument, in sh and bash', () => {
  assert.ok(SHELLS.length >= 1);
  for (const shell of SHELLS) {
    for (const s of HOSTILE) {
      const r = run(shell, `printf '%s\\0' ${quote(s)}`);
      assert.equal(r.code, 0, `${shell}: ${JSON.stringify(s)}: ${r.stderr}`);
      assert.equal(r.stdout, `${s}\0`, `${shell}: ${JSON.stringify(s)}`);
    }
  }
  assert.equal(spawnSync('test', ['-e', '/tmp/mksysb-tape-pwned']).status, 1, 'command substitution ran');
});

test('command: quotes each word; argv survives intact, assignment-looking first word is a command', () => {
  for (const shell of SHELLS) {
    const r = run(shell, command(['printf', '%s|', ...HOSTILE]));
    assert.equal(r.stdout, HOSTILE.map((s) => `${s}|`).join(''));
  }
  assert.equal(command(['dd', 'if=/a b', 'bs=512']), "dd 'if=/a b' bs=512");
  assert.equal(command(['FOO=bar']), "'FOO=bar'");
  // Not run as an assignment: the shell looks for a command named "FOO=bar".
  const r = run('/bin/sh', `${command(['FOO=bar'])}; echo "[$FOO]"`);
  assert.match(r.stdout, /^\[\]$/m);
  assert.throws(() => command([]), ShellValueError);
});

test('quote: NUL throws; safe words stay bare for readable logs', () => {
  assert.throws(() => quote('a\0b'), ShellValueError);
  assert.throws(() => command(['echo', 'a\0b']), ShellValueError);
  assert.equal(quote('/dev/rmt0.1'), '/dev/rmt0.1');
  assert.equal(quote('bs=512'), 'bs=512');
  assert.equal(quote(''), "''");
  assert.equal(quote("a'b"), `'a'\\''b'`);
});

test('and / or / seq / pipe compose and keep status semantics', () => {
  for (const shell of SHELLS) {
    assert.equal(run(shell, and('true', 'echo yes')).stdout, 'yes\n');
    assert.equal(run(shell, and('false', 'echo no')).stdout, '');
    assert.equal(run(shell, and('false', 'echo no')).code, 1);
    assert.equal(run(shell, or('false', 'echo alt')).stdout, 'alt\n');
    assert.equal(run(shell, seq('false', 'echo after')).stdout, 'after\n');
    assert.equal(run(shell, pipe('printf "b\\na\\n"', 'sort')).stdout, 'a\nb\n');
    // a compound part is grouped, so `and` does not leak into a `||`
    assert.equal(run(shell, and(or('false', 'true'), 'echo grouped')).stdout, 'grouped\n');
    assert.equal(run(shell, and(seq('false', 'true'), 'echo ok')).stdout, 'ok\n');
  }
  assert.equal(group('echo a'), 'echo a');
  assert.equal(group('echo a; echo b'), '{ echo a; echo b; }');
  assert.equal(group("echo 'a;b'"), "echo 'a;b'");
});

test('redirectOut writes to a hostile file name literally', () => {
  const name = `/tmp/mksysb-tape test '$(x)' ${process.pid}`;
  for (const shell of SHELLS) {
    run(shell, redirectOut(command(['echo', 'data']), name));
    const r = spawnSync('cat', [name], { encoding: 'utf8' });
    assert.equal(r.stdout, 'data\n');
    spawnSync('rm', ['-f', name]);
  }
});

test('pipeWithStatus reports the left side status that a plain pipe hides', () => {
  for (const shell of SHELLS) {
    const bad = run(shell, pipeWithStatus(command(['sh', '-c', 'printf data; exit 7']), 'wc -c'));
    const p = parsePipeStatus(bad.stdout);
    assert.equal(p.status, 7);
    assert.equal(p.rest.trim(), '4');
    const good = parsePipeStatus(run(shell, pipeWithStatus('printf abc', 'cat')).stdout);
    assert.equal(good.status, 0);
    assert.equal(good.rest.replace(/\n/g, ''), 'abc');
  }
  assert.equal(parsePipeStatus('no status\n').status, null);
});

test('name and path assertions', () => {
  assert.throws(() => assertName('a\nb', 'x'), /newline/);
  assert.throws(() => assertName('', 'x'), ShellValueError);
  assert.throws(() => assertName('a\rb', 'x'), ShellValueError);
  assert.equal(assertName('ok name', 'x'), 'ok name');
  assert.equal(assertAbsolutePath('/a/b/', 'p'), '/a/b');
  assert.equal(assertAbsolutePath('/', 'p'), '/');
  for (const bad of ['a/b', '/a/../b', '/a/./b', '/a//b', '/a/b\n']) assert.throws(() => assertAbsolutePath(bad, 'p'), ShellValueError, bad);
  assert.throws(() => assertSegment('a/b', 's'), ShellValueError);
  assert.throws(() => assertSegment('..', 's'), ShellValueError);
  assert.equal(joinPath('/work/', 'x'), '/work/x');
  assert.equal(joinPath('/', 'x'), '/x');
});

test('killOnHangup: keeps the exit status; EOF on stdin (the channel closed) kills the whole command', async () => {
  for (const shell of SHELLS) {
    // normal end: status kept, stdin still open
    const ok = spawn(shell, ['-c', killOnHangup("echo out; echo err >&2; sh -c 'exit 7'")], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    ok.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => ok.once('close', (c) => r(c)));
    ok.stdin.end();
    assert.equal(code, 7, shell);
    assert.equal(out, 'out\n');
    // hangup: the command and its children are killed, in a new session as sshd would run it
    const hung = spawn('setsid', [shell, '-c', killOnHangup('sleep 303 & echo $! ; sleep 304 | cat; wait')], { stdio: ['pipe', 'pipe', 'ignore'] });
    const bg = await new Promise<number>((r) => hung.stdout.once('data', (d: Buffer) => r(Number(d.toString().trim()))));
    assert.ok(bg > 0);
    const t0 = Date.now();
    hung.stdin.end();
    await new Promise((r) => hung.once('close', r));
    assert.ok(Date.now() - t0 < 5000);
    let bgAlive = true;
    for (let i = 0; i < 100 && bgAlive; i++) {
      try {
        process.kill(bg, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        bgAlive = false;
      }
    }
    assert.equal(bgAlive, false, `${shell}: background child survived the hangup`);
  }
});
