/**
 * The workflow input schema: every bad input is refused with the exact message an operator sees, before any
 * remote command runs; good inputs come back with every default applied.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  backupInputSchema,
  BACKUP_DEFAULTS,
  InputValidationError,
  parseBackupInput,
  type BackupInput,
  type ParseBackupContext,
  type ResolvedBackup,
} from '../../src/schema';

const base = { source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } };
/** The minimal input with top-level fields changed. */
const w = (fields: Record<string, unknown>): Record<string, unknown> => ({ ...base, ...fields });
/** The minimal input with tape fields changed. */
const t = (tape: Record<string, unknown>): Record<string, unknown> => ({ ...base, tape: { ...base.tape, ...tape } });

const WORKFLOW_ID = 'nightly-aix01';

interface BadCase {
  name: string;
  input: unknown;
  context?: ParseBackupContext;
  /** The message after "invalid backup input: ". */
  message: string;
}

function refusal(input: unknown, context: ParseBackupContext = { workflowId: WORKFLOW_ID }): InputValidationError {
  try {
    parseBackupInput(input, context);
  } catch (err) {
    assert.ok(err instanceof InputValidationError, `expected InputValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail(`input was accepted: ${JSON.stringify(input)}`);
}

const BAD: BadCase[] = [
  // The whole input
  {
    name: 'a string instead of an object',
    input: 'aix01',
    message:
      '"aix01": must be an object such as {"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}}',
  },
  {
    name: 'null',
    input: null,
    message:
      'null: must be an object such as {"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}}',
  },
  {
    name: 'a list',
    input: [],
    message:
      '(a list): must be an object such as {"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}}',
  },
  {
    name: 'nothing at all',
    input: undefined,
    message:
      'no input was given; expected an object such as {"source": "aix01", "tape": {"host": "tapesrv", "device": "rmt0"}}',
  },
  {
    name: 'an empty object',
    input: {},
    message:
      'source: is required: the inventory name of the AIX host to back up (e.g. "aix01"); tape: is required: where to write, e.g. {"host": "tapesrv", "device": "rmt0"}',
  },
  // source: shell metacharacters, control characters, look-alikes, huge values
  {
    name: 'source a number',
    input: { ...base, source: 42 },
    message:
      'source 42: must be the name of a host in the inventory, as text (e.g. "aix01")',
  },
  {
    name: 'source empty',
    input: w({ source: '' }),
    message:
      'source "": must not be empty',
  },
  {
    name: 'source with ;',
    input: w({ source: 'aix01;reboot' }),
    message:
      'source "aix01;reboot": may contain only letters, digits, ".", "_" and "-"; it contains ";"',
  },
  {
    name: 'source with &&',
    input: w({ source: 'aix01&&reboot' }),
    message:
      'source "aix01&&reboot": may contain only letters, digits, ".", "_" and "-"; it contains "&"',
  },
  {
    name: 'source with a space',
    input: w({ source: 'aix01 && rm -rf /' }),
    message:
      'source "aix01 && rm -rf /": may contain only letters, digits, ".", "_" and "-"; it contains a space',
  },
  {
    name: 'source with $()',
    input: w({ source: '$(reboot)' }),
    message:
      'source "$(reboot)": may contain only letters, digits, ".", "_" and "-"; it contains "$"',
  },
  {
    name: 'source with backticks',
    input: w({ source: '`reboot`' }),
    message:
      'source "`reboot`": may contain only letters, digits, ".", "_" and "-"; it contains "`"',
  },
  {
    name: 'source with |',
    input: w({ source: 'aix01|tee' }),
    message:
      'source "aix01|tee": may contain only letters, digits, ".", "_" and "-"; it contains "|"',
  },
  {
    name: 'source with >',
    input: w({ source: 'aix01>x' }),
    message:
      'source "aix01>x": may contain only letters, digits, ".", "_" and "-"; it contains ">"',
  },
  {
    name: 'source with <',
    input: w({ source: '<x' }),
    message:
      'source "<x": may contain only letters, digits, ".", "_" and "-"; it contains "<"',
  },
  {
    name: 'source with a newline',
    input: w({ source: 'aix01\nreboot' }),
    message:
      'source "aix01\\nreboot": may contain only letters, digits, ".", "_" and "-"; it contains a newline',
  },
  {
    name: 'source with NUL',
    input: w({ source: 'aix01\u0000' }),
    message:
      'source "aix01\\u0000": may contain only letters, digits, ".", "_" and "-"; it contains a NUL character',
  },
  {
    name: 'source with a Cyrillic a',
    input: w({ source: '\u0430ix01' }),
    message:
      'source "\\u0430ix01": may contain only letters, digits, ".", "_" and "-"; it contains the non-ASCII character U+0430',
  },
  {
    name: 'source with a fullwidth a',
    input: w({ source: '\uff41ix01' }),
    message:
      'source "\\uff41ix01": may contain only letters, digits, ".", "_" and "-"; it contains the non-ASCII character U+FF41',
  },
  {
    name: 'source with a zero-width space',
    input: w({ source: 'aix01\u200b' }),
    message:
      'source "aix01\\u200b": may contain only letters, digits, ".", "_" and "-"; it contains the non-ASCII character U+200B',
  },
  {
    name: 'source with a right-to-left override',
    input: w({ source: 'aix\u202e10' }),
    message:
      'source "aix\\u202e10": may contain only letters, digits, ".", "_" and "-"; it contains the non-ASCII character U+202E',
  },
  {
    name: 'source with an emoji',
    input: w({ source: 'aix01\u{1F600}' }),
    message:
      'source "aix01\\ud83d\\ude00": may contain only letters, digits, ".", "_" and "-"; it contains the non-ASCII character U+1F600',
  },
  {
    name: 'source with a no-break space',
    input: w({ source: 'aix01\u00a0' }),
    message:
      'source "aix01\\u00a0": may contain only letters, digits, ".", "_" and "-"; it contains the non-ASCII character U+00A0',
  },
  {
    name: 'source with a carriage return',
    input: w({ source: 'aix01\r' }),
    message:
      'source "aix01\\r": may contain only letters, digits, ".", "_" and "-"; it contains a carriage return',
  },
  {
    name: 'source with DEL',
    input: w({ source: 'aix01\u007f' }),
    message:
      'source "aix01\\u007f": may contain only letters, digits, ".", "_" and "-"; it contains the control character U+007F',
  },
  {
    name: 'source of 10 kB',
    input: w({ source: 'a'.repeat(10240) }),
    message:
      'source "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..." (10240 characters): must be at most 63 characters (it has 10240)',
  },
  {
    name: 'source starting with -',
    input: w({ source: '-rf' }),
    message:
      'source "-rf": must start with a letter or digit',
  },
  {
    name: 'source with ../',
    input: w({ source: '../etc' }),
    message:
      'source "../etc": may contain only letters, digits, ".", "_" and "-"; it contains "/"',
  },
  // tape
  {
    name: 'tape missing',
    input: { source: 'aix01' },
    message:
      'tape: is required: where to write, e.g. {"host": "tapesrv", "device": "rmt0"}',
  },
  {
    name: 'tape a string',
    input: w({ tape: 'tapesrv' }),
    message:
      'tape "tapesrv": must be an object such as {"host": "tapesrv", "device": "rmt0"}',
  },
  {
    name: 'tape a list',
    input: w({ tape: ['tapesrv', 'rmt0'] }),
    message:
      'tape (a list): must be an object such as {"host": "tapesrv", "device": "rmt0"}',
  },
  {
    name: 'tape.device missing',
    input: w({ tape: { host: 'tapesrv' } }),
    message:
      'tape.device: is required: the tape device on that host (e.g. "rmt0")',
  },
  {
    name: 'tape.device with ;',
    input: t({ device: 'rmt0;reboot' }),
    message:
      'tape.device "rmt0;reboot": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host',
  },
  {
    name: 'tape.device with /dev/',
    input: t({ device: '/dev/rmt0' }),
    message:
      'tape.device "/dev/rmt0": give the device name without /dev/ (e.g. rmt0)',
  },
  {
    name: 'tape.device a special file',
    input: t({ device: 'rmt0.1' }),
    message:
      'tape.device "rmt0.1": give the base name rmt0; the backup picks the no-rewind special file rmt0.1 itself',
  },
  {
    name: 'tape.device rewinding st0',
    input: t({ device: 'st0' }),
    message:
      'tape.device "st0": st0 rewinds on close, so the four records cannot be written one after another; use the no-rewind device nst0',
  },
  {
    name: 'tape.device without number',
    input: t({ device: 'rmt' }),
    message:
      'tape.device "rmt": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host',
  },
  {
    name: 'tape.device with a newline',
    input: t({ device: 'rmt0\n' }),
    message:
      'tape.device "rmt0\\n": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host',
  },
  {
    name: 'tape.device with 4 digits',
    input: t({ device: 'rmt1234' }),
    message:
      'tape.device "rmt1234": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host',
  },
  {
    name: 'tape.device a number',
    input: t({ device: 0 }),
    message:
      'tape.device 0: must be a tape device name as text (e.g. "rmt0")',
  },
  {
    name: 'tape.device misspelt',
    input: { ...base, tape: { host: 'tapesrv', devcie: 'rmt0' } },
    message:
      'tape.device: is required: the tape device on that host (e.g. "rmt0"); tape.devcie: unknown field; did you mean "device"?',
  },
  {
    name: 'tape.host with a space',
    input: t({ host: 'tape srv' }),
    message:
      'tape.host "tape srv": may contain only letters, digits, ".", "_" and "-"; it contains a space',
  },
  {
    name: 'tape.host of 10 kB',
    input: t({ host: 'a'.repeat(10240) }),
    message:
      'tape.host "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..." (10240 characters): must be at most 63 characters (it has 10240)',
  },
  // backupId and its default, the workflow ID
  {
    name: 'backupId with ../',
    input: w({ backupId: '../../etc' }),
    message:
      'backupId "../../etc": may contain only letters, digits, ".", "_" and "-"; it contains "/"',
  },
  {
    name: 'backupId empty',
    input: w({ backupId: '' }),
    message:
      'backupId "": must not be empty',
  },
  {
    name: 'backupId of 10 kB',
    input: w({ backupId: 'b'.repeat(10000) }),
    message:
      'backupId "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb..." (10000 characters): must be at most 128 characters (it has 10000)',
  },
  {
    name: 'backupId with a space',
    input: w({ backupId: 'x y' }),
    message:
      'backupId "x y": may contain only letters, digits, ".", "_" and "-"; it contains a space',
  },
  {
    name: 'backupId with $()',
    input: w({ backupId: 'x$(id)' }),
    message:
      'backupId "x$(id)": may contain only letters, digits, ".", "_" and "-"; it contains "$"',
  },
  {
    name: 'workflow ID unfit for a backup ID',
    input: base,
    context: { workflowId: 'nightly backup #1' },
    message:
      'backupId: the workflow ID "nightly backup #1" cannot name the backup\'s files (a backup ID may contain only letters, digits, ".", "_" and "-"; it contains a space); give backupId in the input',
  },
  {
    name: 'no backupId and no workflow ID',
    input: base,
    context: {},
    message:
      'backupId: is required here: there is no workflow ID to use as the backup ID',
  },
  // mksysb flags
  {
    name: 'mksysbFlags a string',
    input: w({ mksysbFlags: '-e -i' }),
    message:
      'mksysbFlags "-e -i": must be a list of mksysb flags such as ["-e", "-i", "-p"]',
  },
  {
    name: 'mksysbFlags not allowed',
    input: w({ mksysbFlags: ['-F'] }),
    message:
      'mksysbFlags[0] "-F": is not an allowed mksysb flag; the allowed flags are -e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), -p (do not pack files), -X (let mksysb grow /tmp)',
  },
  {
    name: 'mksysbFlags injected',
    input: w({ mksysbFlags: ['-i; reboot'] }),
    message:
      'mksysbFlags[0] "-i; reboot": is not an allowed mksysb flag; the allowed flags are -e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), -p (do not pack files), -X (let mksysb grow /tmp)',
  },
  {
    name: 'mksysbFlags too many',
    input: w({ mksysbFlags: Array(11).fill('-e') }),
    message:
      'mksysbFlags: must list at most 10 flags',
  },
  {
    name: 'mksysbFlags combined',
    input: w({ mksysbFlags: ['-ip'] }),
    message:
      'mksysbFlags[0] "-ip": is not an allowed mksysb flag; the allowed flags are -e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), -p (do not pack files), -X (let mksysb grow /tmp)',
  },
  // bootDevice
  {
    name: 'bootDevice without /dev/',
    input: w({ bootDevice: 'rmt0' }),
    message:
      'bootDevice "rmt0": must be the full path /dev/rmt0',
  },
  {
    name: 'bootDevice with ;',
    input: w({ bootDevice: '/dev/rmt0; reboot' }),
    message:
      'bootDevice "/dev/rmt0; reboot": must be /dev/rmt followed by digits (e.g. /dev/rmt0)',
  },
  {
    name: 'bootDevice a disk',
    input: w({ bootDevice: '/dev/hdisk0' }),
    message:
      'bootDevice "/dev/hdisk0": must be /dev/rmt followed by digits (e.g. /dev/rmt0)',
  },
  // numbers
  {
    name: 'record4BlockSize not a multiple of 512',
    input: w({ record4BlockSize: 1000 }),
    message:
      'record4BlockSize 1000: must be a multiple of 512 (e.g. 512, 65536, 262144)',
  },
  {
    name: 'record4BlockSize 0',
    input: w({ record4BlockSize: 0 }),
    message:
      'record4BlockSize 0: must be a whole number from 512 to 1048576',
  },
  {
    name: 'record4BlockSize 2 MiB',
    input: w({ record4BlockSize: 2097152 }),
    message:
      'record4BlockSize 2097152: must be a whole number from 512 to 1048576',
  },
  {
    name: 'record4BlockSize quoted',
    input: w({ record4BlockSize: '512' }),
    message:
      'record4BlockSize "512": must be a whole number from 512 to 1048576, written without quotes',
  },
  {
    name: 'record4BlockSize a fraction',
    input: w({ record4BlockSize: 512.5 }),
    message:
      'record4BlockSize 512.5: must be a whole number from 512 to 1048576',
  },
  {
    name: 'record4BlockSize NaN',
    input: w({ record4BlockSize: NaN }),
    message:
      'record4BlockSize NaN: must be a whole number from 512 to 1048576',
  },
  {
    name: 'operatorWaitHours negative',
    input: w({ operatorWaitHours: -1 }),
    message:
      'operatorWaitHours -1: must be a number from 0 to 720',
  },
  {
    name: 'operatorWaitHours over 30 days',
    input: w({ operatorWaitHours: 721 }),
    message:
      'operatorWaitHours 721: must be a number from 0 to 720',
  },
  {
    name: 'operatorWaitHours quoted',
    input: w({ operatorWaitHours: '24' }),
    message:
      'operatorWaitHours "24": must be a number from 0 to 720, written without quotes',
  },
  {
    name: 'operatorWaitHours Infinity',
    input: w({ operatorWaitHours: Infinity }),
    message:
      'operatorWaitHours Infinity: must be a number from 0 to 720',
  },
  {
    name: 'retry.maxAttempts 0',
    input: w({ retry: { maxAttempts: 0 } }),
    message:
      'retry.maxAttempts 0: must be a whole number from 1 to 20',
  },
  {
    name: 'retry.maxAttempts 21',
    input: w({ retry: { maxAttempts: 21 } }),
    message:
      'retry.maxAttempts 21: must be a whole number from 1 to 20',
  },
  {
    name: 'retry.maxAttempts a fraction',
    input: w({ retry: { maxAttempts: 2.5 } }),
    message:
      'retry.maxAttempts 2.5: must be a whole number from 1 to 20',
  },
  {
    name: 'retry misspelt field',
    input: w({ retry: { attempts: 3 } }),
    message:
      'retry.attempts: unknown field; the fields are maxAttempts',
  },
  {
    name: 'retry a number',
    input: w({ retry: 3 }),
    message:
      'retry 3: must be an object such as {"maxAttempts": 3}',
  },
  // enums and booleans
  {
    name: 'verify misspelt',
    input: w({ verify: 'ful' }),
    message:
      'verify "ful": must be one of "full", "lsmksysb", "none"',
  },
  {
    name: 'verify a boolean',
    input: w({ verify: true }),
    message:
      'verify true: must be one of "full", "lsmksysb", "none"',
  },
  {
    name: 'overwrite "yes"',
    input: w({ overwrite: 'yes' }),
    message:
      'overwrite "yes": must be true or false',
  },
  {
    name: 'overwrite quoted',
    input: w({ overwrite: 'true' }),
    message:
      'overwrite "true": must be true or false, written without quotes',
  },
  {
    name: 'keepStaging 1',
    input: w({ keepStaging: 1 }),
    message:
      'keepStaging 1: must be true or false',
  },
  {
    name: 'expectedLabel with ;',
    input: w({ expectedLabel: 'a;b' }),
    message:
      'expectedLabel "a;b": may contain only letters, digits, ".", "_" and "-"; it contains ";"',
  },
  // work folders
  {
    name: 'workFolder a string',
    input: w({ workFolder: '/home' }),
    message:
      'workFolder "/home": must be an object such as {"source": "/home/mksysb", "tape": "/backup/stage"}',
  },
  {
    name: 'workFolder relative',
    input: w({ workFolder: { source: 'home/mksysb' } }),
    message:
      'workFolder.source "home/mksysb": must be an absolute path starting with "/" (e.g. /home/mksysb)',
  },
  {
    name: 'workFolder /',
    input: w({ workFolder: { source: '/' } }),
    message:
      'workFolder.source "/": must not be "/" itself; name a staging folder such as /home/mksysb',
  },
  {
    name: 'workFolder with ..',
    input: w({ workFolder: { source: '/home/../etc' } }),
    message:
      'workFolder.source "/home/../etc": must not contain ".."',
  },
  {
    name: 'workFolder with //',
    input: w({ workFolder: { source: '/home//x' } }),
    message:
      'workFolder.source "/home//x": must not contain "//"',
  },
  {
    name: 'workFolder with a space',
    input: w({ workFolder: { tape: '/home/mk sysb' } }),
    message:
      'workFolder.tape "/home/mk sysb": may contain only letters, digits, ".", "_", "-" and "/"; it contains a space',
  },
  {
    name: 'workFolder with ;',
    input: w({ workFolder: { tape: '/home/x;rm -rf /' } }),
    message:
      'workFolder.tape "/home/x;rm -rf /": may contain only letters, digits, ".", "_", "-" and "/"; it contains ";"',
  },
  {
    name: 'workFolder with $()',
    input: w({ workFolder: { tape: '/home/$(reboot)' } }),
    message:
      'workFolder.tape "/home/$(reboot)": may contain only letters, digits, ".", "_", "-" and "/"; it contains "$"',
  },
  {
    name: 'workFolder with a trailing /',
    input: w({ workFolder: { tape: '/home/mksysb/' } }),
    message:
      'workFolder.tape "/home/mksysb/": must not end with "/"',
  },
  {
    name: 'workFolder over 200 characters',
    input: w({ workFolder: { tape: '/' + 'd'.repeat(250) } }),
    message:
      'workFolder.tape "/ddddddddddddddddddddddddddddddddddddddddddddddd..." (251 characters): must be at most 200 characters (it has 251)',
  },
  {
    name: 'workFolder with /./',
    input: w({ workFolder: { tape: '/home/./x' } }),
    message:
      'workFolder.tape "/home/./x": must not contain "." as a folder name',
  },
  {
    name: 'workFolder with NUL',
    input: w({ workFolder: { tape: '/home/mksysb\u0000' } }),
    message:
      'workFolder.tape "/home/mksysb\\u0000": may contain only letters, digits, ".", "_", "-" and "/"; it contains a NUL character',
  },
  {
    name: 'workFolder with a newline',
    input: w({ workFolder: { tape: '/home/mksysb\n/etc' } }),
    message:
      'workFolder.tape "/home/mksysb\\n/etc": may contain only letters, digits, ".", "_", "-" and "/"; it contains a newline',
  },
  {
    name: 'workFolder unknown field',
    input: w({ workFolder: { target: '/x' } }),
    message:
      'workFolder.target: unknown field; the fields are source, tape',
  },
  // unknown fields
  {
    name: 'a secret in the input',
    input: w({ passphrase: 'secret' }),
    message:
      'passphrase: unknown field; secrets must not be written here: the worker keeps credentials (the inventory names a key file or agent, and an environment variable for a passphrase)',
  },
  {
    name: 'source misspelt',
    input: { sourec: 'aix01', tape: base.tape },
    message:
      'source: is required: the inventory name of the AIX host to back up (e.g. "aix01"); sourec: unknown field; did you mean "source"?',
  },
  {
    name: 'unknown field with a newline in its name',
    input: w({ 'a\nb': 1 }),
    message:
      '["a\\nb"]: unknown field; the fields are source, tape, backupId, mksysbFlags, bootDevice, record4BlockSize, verify, overwrite, maxVolumes, writeWhileMksysb, expectedLabel, keepStaging, workFolder, operatorWaitHours, retry',
  },
  {
    name: 'several problems at once',
    input: { source: 'a b', tape: { host: 'x', device: 'st1' }, verify: 'all', overwrite: 'no' },
    message:
      'source "a b": may contain only letters, digits, ".", "_" and "-"; it contains a space; tape.device "st1": st1 rewinds on close, so the four records cannot be written one after another; use the no-rewind device nst1; verify "all": must be one of "full", "lsmksysb", "none"; overwrite "no": must be true or false',
  },
];

describe('parseBackupInput refuses bad input with the exact message', () => {
  it('has a large table of cases', () => assert.ok(BAD.length >= 40, `only ${BAD.length} cases`));
  for (const c of BAD) {
    it(c.name, () => {
      const err = refusal(c.input, c.context);
      assert.equal(err.message, `invalid backup input: ${c.message}`);
      assert.equal(err.name, 'InputValidationError');
      assert.ok(err.issues.length > 0);
      // Every issue's path and reason appear in the message.
      for (const issue of err.issues) {
        assert.ok(err.message.includes(issue.path), `path ${issue.path} not in message`);
        assert.ok(err.message.includes(issue.message), `reason ${issue.message} not in message`);
      }
    });
  }
});

describe('messages stay readable whatever the input', () => {
  it('never carries a raw control or non-ASCII character, nor a long value', () => {
    for (const c of BAD) {
      const err = refusal(c.input, c.context);
      assert.match(err.message, /^[\x20-\x7e]*$/, c.name);
      assert.ok(err.message.length < 2000, `${c.name}: message of ${err.message.length} characters`);
    }
  });

  it('lists issues with field paths and reasons', () => {
    const err = refusal({ source: 'a b', tape: { host: 'x', device: 'st1' }, retry: { maxAttempts: 0 } });
    assert.deepEqual(err.issues, [
      { path: 'source', message: 'may contain only letters, digits, ".", "_" and "-"; it contains a space' },
      {
        path: 'tape.device',
        message: 'st1 rewinds on close, so the four records cannot be written one after another; use the no-rewind device nst1',
      },
      { path: 'retry.maxAttempts', message: 'must be a whole number from 1 to 20' },
    ]);
  });

  it('names the first 20 problems and counts the rest', () => {
    const input: Record<string, unknown> = { ...base };
    for (let i = 0; i < 25; i++) input[`extra${i}`] = i;
    const err = refusal(input);
    assert.equal(err.issues.length, 25);
    assert.match(err.message, /extra19: unknown field; the fields are [^;]*; and 5 more problems$/);
    assert.ok(!err.message.includes('extra20'));
  });
});

describe('parseBackupInput applies the defaults', () => {
  it('fills every optional field of the minimal input', () => {
    const got = parseBackupInput(base, { workflowId: WORKFLOW_ID });
    const want: ResolvedBackup = {
      source: 'aix01',
      tape: { host: 'tapesrv', device: 'rmt0' },
      backupId: WORKFLOW_ID,
      mksysbFlags: ['-i', '-p'],
      bootDevice: '/dev/rmt0',
      record4BlockSize: 512,
      verify: 'full',
      overwrite: false,
      maxVolumes: 1,
      writeWhileMksysb: false,
      keepStaging: false,
      workFolder: {},
      operatorWaitHours: 24,
      retry: { maxAttempts: 3 },
    };
    assert.deepEqual(got, want);
    assert.equal(BACKUP_DEFAULTS.record4BlockSize, 512);
  });

  it('keeps every field given', () => {
    const input: BackupInput = {
      source: 'aix01.prod',
      tape: { host: 'tape_srv-2', device: 'nst12' },
      backupId: 'aix01-2024-06-01',
      mksysbFlags: ['-X', '-e', '-m'],
      bootDevice: '/dev/rmt3',
      record4BlockSize: 262144,
      verify: 'lsmksysb',
      overwrite: true,
      maxVolumes: 12,
      writeWhileMksysb: true,
      expectedLabel: 'aix01-2024-05-01',
      keepStaging: true,
      workFolder: { source: '/home/mksysb', tape: '/backup/stage.1' },
      operatorWaitHours: 0.5,
      retry: { maxAttempts: 20 },
    };
    assert.deepEqual(parseBackupInput(input, { workflowId: WORKFLOW_ID }), {
      ...input,
      mksysbFlags: ['-e', '-i', '-m', '-X'],
    });
  });

  it('does not need a workflow ID when backupId is given', () => {
    assert.equal(parseBackupInput(w({ backupId: 'b1' })).backupId, 'b1');
    assert.equal(parseBackupInput(w({ backupId: 'b1' }), { workflowId: 'other' }).backupId, 'b1');
  });

  it('always adds -i to mksysb flags, sorts them and drops repeats', () => {
    const flags = (f: unknown) => parseBackupInput(w({ mksysbFlags: f }), { workflowId: WORKFLOW_ID }).mksysbFlags;
    assert.deepEqual(flags([]), ['-i']);
    assert.deepEqual(flags(['-p', '-e', '-e']), ['-e', '-i', '-p']);
    assert.deepEqual(flags(['-i', '-i']), ['-i']);
  });

  it('accepts the edges of each range', () => {
    const ok = (fields: Record<string, unknown>) => parseBackupInput(w(fields), { workflowId: WORKFLOW_ID });
    assert.equal(ok({ record4BlockSize: 1048576 }).record4BlockSize, 1048576);
    assert.equal(ok({ operatorWaitHours: 0 }).operatorWaitHours, 0);
    assert.equal(ok({ operatorWaitHours: 720 }).operatorWaitHours, 720);
    assert.equal(ok({ retry: {} }).retry.maxAttempts, 3);
    assert.equal(ok({ retry: { maxAttempts: 1 } }).retry.maxAttempts, 1);
    assert.equal(ok({ source: 'a'.repeat(63) }).source.length, 63);
    assert.equal(ok({ backupId: 'b'.repeat(128) }).backupId.length, 128);
    assert.equal(ok({ workFolder: { tape: '/' + 'd'.repeat(199) } }).workFolder.tape?.length, 200);
    assert.equal(ok({ tape: { host: 'tapesrv', device: 'rmt999' } }).tape.device, 'rmt999');
  });

  it('treats a field set to undefined as not given', () => {
    const got = parseBackupInput(w({ backupId: undefined, verify: undefined }), { workflowId: WORKFLOW_ID });
    assert.equal(got.backupId, WORKFLOW_ID);
    assert.equal(got.verify, 'full');
  });

  it('returns a fresh object that does not share the defaults', () => {
    const a = parseBackupInput(base, { workflowId: WORKFLOW_ID });
    a.mksysbFlags.push('-X');
    a.retry.maxAttempts = 9;
    const b = parseBackupInput(base, { workflowId: WORKFLOW_ID });
    assert.deepEqual(b.mksysbFlags, ['-i', '-p']);
    assert.equal(b.retry.maxAttempts, 3);
  });

  it('gives the same result for its own output (idempotent)', () => {
    const once = parseBackupInput(w({ mksysbFlags: ['-e'] }), { workflowId: WORKFLOW_ID });
    assert.deepEqual(parseBackupInput(once), once);
  });
});

describe('backupInputSchema used directly', () => {
  it('words its own issues, unknown fields included', () => {
    const res = backupInputSchema.safeParse({ source: 'aix01', tape: { host: 'tapesrv', device: 'st0' }, sourec: 1, x: 2 });
    assert.equal(res.success, false);
    assert.deepEqual(
      res.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [
        [
          'tape.device',
          'st0 rewinds on close, so the four records cannot be written one after another; use the no-rewind device nst0',
        ],
        [
          '',
          'unknown fields "sourec", "x"; the fields are source, tape, backupId, mksysbFlags, bootDevice, ' +
            'record4BlockSize, verify, overwrite, maxVolumes, writeWhileMksysb, expectedLabel, keepStaging, workFolder, operatorWaitHours, retry',
        ],
      ],
    );
  });

  it('applies defaults but leaves backupId to parseBackupInput', () => {
    const data = backupInputSchema.parse(base);
    assert.equal(data.backupId, undefined);
    assert.deepEqual(data.mksysbFlags, ['-i', '-p']);
    assert.equal(data.record4BlockSize, 512);
  });
});
