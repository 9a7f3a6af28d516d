/**
 * src/tape/readback.ts: one read of a record feeds its SHA-256 and a restore reading standard input. Run under the
 * Korn shells and dash against a file standing in for the tape, with stand-in `restore` commands that stop reading
 * early or fail at once: the digest must still cover every byte, and the reader's status and words come through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSha256WithStatus } from '../../src/tape/digest';
import { installProblem, parseInstallFiles, parseReader, readArchiveChecked, readInstallImageChecked } from '../../src/tape/readback';

const SHELLS = ['lksh', 'dash', 'ksh93'].filter((s) => spawnSync('sh', ['-c', `command -v ${s}`]).status === 0);

/** A folder with a `restore` script on the PATH. */
function withRestore(dir: string, script: string): NodeJS.ProcessEnv {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'restore'), `#!/bin/sh\n${script}\n`);
  chmodSync(join(bin, 'restore'), 0o755);
  return { ...process.env, PATH: `${bin}:${process.env.PATH}` };
}

function run(shell: string, cmd: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync(shell, ['-c', cmd], { env, maxBuffer: 16 << 20, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

for (const shell of SHELLS) {
  test(`readArchiveChecked under ${shell}: the digest covers every byte whether restore reads all, stops early or fails`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'readback-'));
    try {
      const tape = join(dir, 'rec4');
      const data = randomBytes(5 * 262144 + 3 * 512);
      writeFileSync(tape, data);
      const want = createHash('sha256').update(data).digest('hex');
      const cases: Array<[string, number, RegExp]> = [
        ['cat > /dev/null; echo "The number of archived files is 3."', 0, /archived files is 3/],
        ['dd bs=512 count=1 > /dev/null 2>&1; echo "stopped at the end header"', 0, /stopped at the end header/],
        ['echo "restore: 0511-119 There is a missing header block." >&2; exit 3', 3, /0511-119/],
      ];
      for (const [script, status, said] of cases) {
        const r = run(shell, readArchiveChecked('linux', tape, 512, join(dir, '.readback-r4')), withRestore(dir, script));
        const sha = parseSha256WithStatus(r.stdout);
        assert.equal(sha.ok, true, `${script}: ${r.stderr}`);
        assert.equal(sha.sha256, want, `${script}: the digest is of the whole record`);
        const reader = parseReader(r.stdout);
        assert.equal(reader.status, status, script);
        assert.match(reader.said, said);
        assert.equal(existsSync(join(dir, '.readback-r4')), false, 'the FIFO folder is removed');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`readInstallImageChecked under ${shell}: which install files record 2 holds, and ./tapeblksz`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'readback-'));
    try {
      const tape = join(dir, 'rec2');
      writeFileSync(tape, randomBytes(64 * 512));
      const extract = 'cat > /dev/null; echo x > image.data; echo x > bosinst.data; printf "262144 NONE\\n" > tapeblksz';
      const r = run(shell, readInstallImageChecked('linux', tape, join(dir, '.readback-r2')), withRestore(dir, extract));
      assert.deepEqual(parseInstallFiles(r.stdout), { files: ['./image.data', './bosinst.data', './tapeblksz'], tapeblksz: '262144 NONE' });
      assert.equal(parseSha256WithStatus(r.stdout).ok, true);
      const none = run(shell, readInstallImageChecked('linux', tape, join(dir, '.readback-r2')), withRestore(dir, 'cat > /dev/null; echo x > image.data; exit 1'));
      assert.deepEqual(parseInstallFiles(none.stdout), { files: ['./image.data'], tapeblksz: null });
      assert.equal(parseReader(none.stdout).status, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('installProblem: image.data and bosinst.data always; ./tapeblksz must agree with record 4, and be there above 512', () => {
  const both = ['./image.data', './bosinst.data'];
  assert.equal(installProblem({ files: both, tapeblksz: null }, 512), undefined);
  assert.equal(installProblem({ files: [...both, './tapeblksz'], tapeblksz: '512 NONE' }, 512), undefined);
  assert.equal(installProblem({ files: [...both, './tapeblksz'], tapeblksz: '262144 NONE' }, 262144), undefined);
  assert.match(installProblem({ files: [...both, './tapeblksz'], tapeblksz: '1024 NONE' }, 262144)!, /says record 4's block size is "1024", but record 4 was written with 262144/);
  assert.match(installProblem({ files: [...both, './tapeblksz'], tapeblksz: '262144 NONE' }, 512)!, /"262144", but record 4 was written with 512/);
  assert.match(installProblem({ files: both, tapeblksz: null }, 65536)!, /holds no \.\/tapeblksz, so BOS install would read record 4 at 512-byte blocks/);
  assert.match(installProblem({ files: ['./image.data'], tapeblksz: null }, 512)!, /does not hold \.\/bosinst\.data/);
});
