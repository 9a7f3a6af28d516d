/**
 * Command injection: every command builder that takes a value a user can influence (work folders and backup IDs,
 * which make every staged path; devices; the boot device; mksysb flags; block sizes; the tape host's key file for
 * direct pulls) is fed hostile strings (shell
 * metacharacters, quotes, newlines, `..`, globs, long strings, Unicode). Each either refuses the value
 * (ShellValueError) or builds a command that is then run on a lab AIX host over the worker's own SSH code. The
 * injected command (`lsdev`, an AIX double that logs every call, and `touch INJ...`) never runs: no `lsdev`
 * entry in any command log, no canary file; and where a logged double receives the hostile value, it receives it
 * byte for byte as one argument. It runs once per shell an AIX host of the lab can have (lksh, dash, ksh93).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AIX_SHELLS, startLab } from '../../lab';
import { SshPool, type SshHost } from '../../src/ssh';
import { aixDriver, detached, images, stagedPath, stagingDir, transfer, writeRecordAt } from '../../src/tape';
import { sha256File, sha256FilePadded } from '../../src/tape/digest';
import { ShellValueError, killOnHangup } from '../../src/tape/shell';

/** Hostile texts; INJ is replaced by a per-value tag so that a canary names the value that leaked. */
const HOSTILE = [
  'x; lsdev -C INJ; touch INJ',
  'x && lsdev -C INJ && touch INJ',
  'x | lsdev -C INJ',
  'x || lsdev -C INJ',
  'x & lsdev -C INJ &',
  '$(lsdev -C INJ)$(touch INJ)',
  '`lsdev -C INJ``touch INJ`',
  "'; lsdev -C INJ; touch INJ; '",
  '"; lsdev -C INJ; touch INJ; "',
  "x'\"'\"'; lsdev -C INJ #",
  '\\; lsdev -C INJ',
  'x\nlsdev -C INJ\ntouch INJ',
  'x\rlsdev -C INJ',
  'x\tlsdev\t-C\tINJ',
  'x > INJ',
  'x < /etc/passwd; lsdev -C INJ',
  '${IFS}lsdev${IFS}-C${IFS}INJ',
  '$((1+1))INJ; lsdev -C INJ',
  '../../../tmp/INJ',
  '*',
  '~root; lsdev -C INJ',
  '-rf; lsdev -C INJ',
  '\u00e4\u20ac\u{1F600}\u202e; lsdev -C INJ',
  '\u037e lsdev -C INJ',
  'A'.repeat(3000) + '; lsdev -C INJ',
  'x\u0000; lsdev -C INJ',
].map((v, i) => v.replaceAll('INJ', `INJ${i}`));

type Builder = { name: string; host: 'aix01' | 'tapesrv'; build: (v: string) => string };

/** How tapesrv's own ssh reaches aix01 in the direct-pull builders (set once the lab runs and trusts the pair). */
let pullFrom: transfer.PullSource = { address: '127.0.0.1', port: 22, user: 'root', identityFile: '/root/.ssh/id', knownHostsFile: '/root/.ssh/known_hosts' };

const WORK = '/home/mksysb';
/** A staged-file path whose last folder is the hostile value, as a hostile backup ID would make it. */
const dirOf = (v: string) => stagingDir(WORK, v);
const fileOf = (v: string) => stagedPath(stagingDir(WORK, v), 4);
/** A work folder whose path contains the hostile value. */
const rootOf = (v: string) => `${WORK}/${v}`;

const BUILDERS: Builder[] = [
  { name: 'bosboot file', host: 'aix01', build: (v) => images.bosboot('/dev/rmt0', stagedPath(dirOf(v), 1)) },
  { name: 'bosboot boot device', host: 'aix01', build: (v) => images.bosboot(v, '/home/mksysb/b/1_bosboot.img') },
  { name: 'mkinsttape', host: 'aix01', build: (v) => images.mkinsttape(stagedPath(dirOf(v), 2)) },
  { name: 'mkinsttape with /tapeblksz', host: 'aix01', build: (v) => images.mkinsttapeForBlockSize(stagedPath(dirOf(v), 2), 262144) },
  { name: 'mksysb file', host: 'aix01', build: (v) => images.mksysb(['-i', '-p'], fileOf(v)) },
  { name: 'mksysb flags', host: 'aix01', build: (v) => images.mksysb(['-i', v], '/home/mksysb/f/4_mksysb.img') },
  { name: 'df of a work folder', host: 'aix01', build: (v) => images.freeSpace(rootOf(v)) },
  { name: 'mkdir -p', host: 'aix01', build: (v) => images.mkdirP(dirOf(v)) },
  { name: 'file size', host: 'aix01', build: (v) => images.fileSize(fileOf(v)) },
  { name: 'file size or absent', host: 'aix01', build: (v) => images.fileSizeOrAbsent(fileOf(v)) },
  { name: 'remove staging', host: 'aix01', build: (v) => images.removeStaging(WORK, dirOf(`${v}-absent`)) },
  { name: 'remove a file', host: 'aix01', build: (v) => images.removeFile(`${fileOf(v)}-absent`) },
  { name: 'sha256 of a file', host: 'aix01', build: (v) => sha256File('aix', fileOf(v)) },
  { name: 'sha256 of a padded file', host: 'tapesrv', build: (v) => sha256FilePadded('aix', fileOf(v), 211) },
  { name: 'transfer read', host: 'aix01', build: (v) => transfer.readFrom(fileOf(v), 100) },
  { name: 'transfer write', host: 'tapesrv', build: (v) => transfer.writeFrom(fileOf(v), 100) },
  { name: 'detached start', host: 'tapesrv', build: (v) => detached.start(dirOf(v), 'write-r4-g1', images.fileSize(fileOf(v))) },
  { name: 'detached poll', host: 'tapesrv', build: (v) => detached.poll(dirOf(v), 'write-r4-g1') },
  { name: 'detached stop', host: 'tapesrv', build: (v) => detached.stop(dirOf(v), 'write-r4-g1') },
  { name: 'detached output', host: 'tapesrv', build: (v) => detached.outputTail(dirOf(v), 'write-r4-g1') },
  { name: 'detached forget', host: 'tapesrv', build: (v) => detached.forget(dirOf(v), 'write-r4-g1') },
  // Direct pulls: the value crosses two shells (the tape host's, then the source's through ssh).
  { name: 'direct pull', host: 'tapesrv', build: (v) => transfer.pull('aix', pullFrom, fileOf(v), 0, fileOf(v), { hash: true }) },
  { name: 'direct pull resumed', host: 'tapesrv', build: (v) => transfer.pull('aix', pullFrom, fileOf(v), 100, `${fileOf(v)}-absent`) },
  { name: 'direct pull identity file', host: 'tapesrv', build: (v) => transfer.sshCommand({ ...pullFrom, identityFile: rootOf(v) }, 'true') },
  { name: 'direct pull known_hosts', host: 'tapesrv', build: (v) => transfer.writeKnownHosts(`${dirOf(v)}/pull-known_hosts`, 'x') },
  { name: 'survey of a staging folder', host: 'tapesrv', build: (v) => transfer.survey(dirOf(v), fileOf(v), 4) },
  { name: 'mark a pull', host: 'tapesrv', build: (v) => transfer.markPull(dirOf(v), 4, 'pull-r4-0') },
  { name: 'current pull', host: 'tapesrv', build: (v) => transfer.currentPull(dirOf(v), 4) },
  { name: 'unmark a pull', host: 'tapesrv', build: (v) => transfer.unmarkPull(dirOf(v), 4) },
  { name: 'write record 4 from a staged file', host: 'tapesrv', build: (v) => writeRecordAt(aixDriver, 'rmt0', 4, fileOf(v)) },
  { name: 'tape status', host: 'tapesrv', build: (v) => aixDriver.status(v) },
  { name: 'tape prepare', host: 'tapesrv', build: (v) => aixDriver.prepare(v).join(' && ') },
  { name: 'tape block size', host: 'tapesrv', build: (v) => aixDriver.setBlockSize(v, 512).join(' && ') },
  { name: 'tape cartridge start', host: 'tapesrv', build: (v) => aixDriver.readCartridgeStart(v) },
  { name: 'tape read back', host: 'tapesrv', build: (v) => aixDriver.readRecordSha256(v, 2, 512) },
  { name: 'tape write at', host: 'tapesrv', build: (v) => writeRecordAt(aixDriver, v, 1, '/home/mksysb/w/1_bosboot.img') },
  { name: 'lsmksysb', host: 'tapesrv', build: (v) => aixDriver.verifyMksysb(v)! },
];

/** Ends each command's output in a batch, with the command's index and exit status. */
const BATCH_END = 'mksysb-test-batch-end';

/**
 * One command line that runs every command of `cmds` in turn, each in its own subshell (so that an `exit` ends only
 * it) with no input, stderr on stdout and a line `BATCH_END INDEX` after it: one round trip for a whole builder
 * instead of one per hostile value. Each command stands on lines of its own, so a value that escaped its quotes and
 * opened a comment or a quote breaks the batch (its end lines go missing), which fails the test as loudly as alone.
 * Its output goes through `cat`: a Korn shell waits only for a pipeline's last command, so the end line comes after
 * every process that holds the command's output has ended, not only the command's last one.
 */
function batch(cmds: string[]): string {
  return cmds.map((c, i) => `(\n${c}\n) < /dev/null 2>&1 | cat; echo "${BATCH_END} ${i}"`).join('\n');
}

/** The output of each command of a batch, by index; a command whose end line is missing has none. */
function unbatch(stdout: string): Map<number, string> {
  const out = new Map<number, string>();
  const re = new RegExp(`${BATCH_END} (\\d+)\\n`, 'g');
  let from = 0;
  for (let m = re.exec(stdout); m; m = re.exec(stdout)) {
    out.set(Number(m[1]), stdout.slice(from, m.index));
    from = m.index + m[0].length;
  }
  return out;
}

// The matrix: a construct one shell accepts and another refuses is caught (lksh, nearest to AIX's ksh88, first).
for (const shell of AIX_SHELLS) {
  test(`hostile values never inject a command (${shell}): each builder refuses them or quotes them, run on lab AIX hosts`, { timeout: 300_000 }, async (t) => {
    const lab = await startLab({ mksysbBytes: 64 << 10, shell });
    t.after(() => lab.down());
    const pool = new SshPool();
    t.after(() => pool.closeAll());
    const conn = (name: string): SshHost => {
      const h = lab.host(name);
      return pool.host({ name, address: h.address, port: h.port, user: h.user, hostKey: h.hostKey, privateKey: fs.readFileSync(h.privateKeyPath) });
    };
    const hosts = { aix01: conn('aix01'), tapesrv: conn('tapesrv') };
    const trust = lab.trust('tapesrv', 'aix01', { inventory: false });
    pullFrom = { ...pullFrom, port: trust.port, identityFile: trust.identityFile, knownHostsFile: trust.knownHostsFile };
    // The work folder exists, as on a real host, so that commands get as far as they can.
    await hosts.aix01.exec('mkdir -p /home/mksysb');
    await hosts.tapesrv.exec('mkdir -p /home/mksysb');

    const stats: Record<string, { ran: number; refused: number }> = {};
    const ran: { builder: string; value: string; cmd: string }[] = [];
    const failures: string[] = [];
    for (const b of BUILDERS) {
      stats[b.name] = { ran: 0, refused: 0 };
      const mine: { value: string; cmd: string }[] = [];
      for (const v of HOSTILE) {
        let cmd: string;
        try {
          cmd = b.build(v);
        } catch (err) {
          assert.ok(err instanceof ShellValueError, `${b.name}: ${String(err)}`);
          stats[b.name]!.refused += 1;
          continue;
        }
        stats[b.name]!.ran += 1;
        mine.push({ value: v, cmd });
        ran.push({ builder: b.name, value: v, cmd });
      }
      if (mine.length === 0) continue;
      const line = batch(mine.map((m) => m.cmd));
      // Linux takes at most 128 KiB in one argument (sshd runs the line as `SHELL -c LINE`).
      assert.ok(Buffer.byteLength(line) < 120 << 10, `${b.name}: batch of ${Buffer.byteLength(line)} bytes`);
      const r = await hosts[b.host].exec(killOnHangup(line), { timeoutMs: 60_000, lifeline: true }).catch((e: Error) => e);
      if (r instanceof Error) {
        failures.push(`${b.name}: ${r.message}`);
        continue;
      }
      const outputs = unbatch(r.stdout);
      mine.forEach(({ value }, i) => {
        const out = outputs.get(i);
        const what = `${b.name} ${JSON.stringify(value.slice(0, 40))}`;
        if (out === undefined) failures.push(`${what}: did not run to its end (batch exit ${r.code}): ${r.stdout.slice(-300)}${r.stderr.slice(-300)}`);
        // The pulls logged in to aix01: its shell got the hostile path (and cat found no such file), not a refusal by ssh.
        else if (b.name.startsWith('direct pull') && transfer.parsePull(out).ssh !== 1) {
          failures.push(`${what}: the source's read did not run: ${out}`);
        }
      });
    }
    assert.deepEqual(failures, []);
    t.diagnostic(`commands run: ${ran.length}; per builder (ran/refused): ${Object.entries(stats).map(([k, s]) => `${k} ${s.ran}/${s.refused}`).join(', ')}`);

    // Settle detached starts, then look.
    await new Promise((r) => setTimeout(r, 500));
    for (const name of ['aix01', 'tapesrv'] as const) {
      const log = await lab.commandLog(name);
      const injected = log.filter((e) => e.command === 'lsdev');
      assert.deepEqual(injected, [], `${name}: an injected lsdev ran`);
      const root = lab.host(name).root;
      const canaries = ['root', 'tmp', '.', 'home/mksysb'].flatMap((d) => fs.readdirSync(path.join(root, d)).filter((f) => f.startsWith('INJ')));
      assert.deepEqual(canaries, [], `${name}: an injected touch or redirection ran`);
    }

    // Not vacuous: path-carrying builders ran with most hostile values, and the doubles got them verbatim.
    for (const b of ['bosboot file', 'mkinsttape', 'mksysb file', 'df of a work folder', 'mkdir -p', 'write record 4 from a staged file', 'detached start', 'transfer write', 'direct pull', 'survey of a staging folder']) {
      assert.ok(stats[b]!.ran >= 15, `${b} ran only ${stats[b]!.ran} hostile values`);
    }
    const aixLog = await lab.commandLog('aix01');
    // (df is not logged by the lab; bosboot, mkinsttape and mksysb are.)
    for (const { builder, value } of ran.filter((r) => ['bosboot file', 'mkinsttape', 'mksysb file'].includes(r.builder))) {
      const arg =
        builder === 'bosboot file' ? stagedPath(dirOf(value), 1) :
        builder === 'mkinsttape' ? stagedPath(dirOf(value), 2) : fileOf(value);
      const cmd = builder === 'bosboot file' ? 'bosboot' : builder;
      assert.ok(
        aixLog.some((e) => e.command === cmd.split(' ')[0] && e.args.at(-1) === arg),
        `${builder}: no ${cmd} call received ${JSON.stringify(arg.slice(0, 80))} as one argument`,
      );
    }
    // mkdir -p made folders with the literal hostile names.
    for (const { value } of ran.filter((r) => r.builder === 'mkdir -p' && Buffer.byteLength(r.value) <= 255)) {
      assert.ok(fs.existsSync(path.join(lab.host('aix01').root, dirOf(value))), `folder ${JSON.stringify(value.slice(0, 60))} exists by its literal name`);
    }
  });
}
