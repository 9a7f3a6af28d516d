/**
 * Bad workflow inputs: malformed, hostile (shell metacharacters, newlines, `..`, long strings, Unicode in every
 * field) and inconsistent with the inventory, each with the exact message the user sees in the workflow's failure.
 *
 * The inventory they are checked against is the lab estate of bad-input.test.ts: AIX sources aix01 and aix02, AIX
 * tape host tapesrv with rmt0 and rmt1, Linux tape host lnxtape with nst0.
 */

export interface BadInput {
  name: string;
  /** Fields over the minimal good input {source: aix01, tape: {host: tapesrv, device: rmt0}}. */
  input: Record<string, unknown>;
  /** Workflow ID to start under (default: a unique, file-name safe one). */
  workflowId?: string;
  /** The failure message, after "invalid backup input: ". */
  message: string;
}

const base = { source: 'aix01', tape: { host: 'tapesrv', device: 'rmt0' } };
const w = (fields: Record<string, unknown>): Record<string, unknown> => ({ ...base, ...fields });
const t = (tape: Record<string, unknown>): Record<string, unknown> => ({ ...base, tape: { ...base.tape, ...tape } });

export const BAD_INPUTS: BadInput[] = [
  // source
  { name: 'source with ;', input: w({ source: 'aix01;reboot' }),
    message: "source \"aix01;reboot\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains \";\"" },
  { name: 'source with $()', input: w({ source: '$(touch /tmp/pwned)' }),
    message: "source \"$(touch /tmp/pwned)\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains \"$\"" },
  { name: 'source with a newline and a command', input: w({ source: 'aix01\nchdev -l rmt0 -a block_size=0' }),
    message: "source \"aix01\\nchdev -l rmt0 -a block_size=0\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains a newline" },
  { name: 'source ..', input: w({ source: '..' }),
    message: "source \"..\": must start with a letter or digit" },
  { name: 'source with a Cyrillic a', input: w({ source: '\u0430ix01' }),
    message: "source \"\\u0430ix01\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains the non-ASCII character U+0430" },
  { name: 'source of 300 characters', input: w({ source: 'a'.repeat(300) }),
    message: "source \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" (300 characters): must be at most 63 characters (it has 300)" },
  { name: 'source not in the inventory', input: w({ source: 'aix99' }),
    message: "source \"aix99\": is not a host in the inventory (source hosts: aix01, aix02)" },
  { name: 'source is a tape host', input: w({ source: 'tapesrv' }),
    message: "source \"tapesrv\": is not a source host in the inventory (its role is \"tape\"); source hosts: aix01, aix02" },
  { name: 'source is a Linux tape host', input: w({ source: 'lnxtape' }),
    message: "source \"lnxtape\": is not a source host in the inventory (its role is \"tape\"); source hosts: aix01, aix02" },
  { name: 'source a number', input: w({ source: 1 }),
    message: "source 1: must be the name of a host in the inventory, as text (e.g. \"aix01\")" },
  // tape.host
  { name: 'tape host with backticks', input: t({ host: 'tapesrv`reboot`' }),
    message: "tape.host \"tapesrv`reboot`\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains \"`\"" },
  { name: 'tape host with a carriage return', input: t({ host: 'tapesrv\r' }),
    message: "tape.host \"tapesrv\\r\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains a carriage return" },
  { name: 'tape host ../tapesrv', input: t({ host: '../tapesrv' }),
    message: "tape.host \"../tapesrv\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains \"/\"" },
  { name: 'tape host with an emoji', input: t({ host: 'tape\u{1F4FC}' }),
    message: "tape.host \"tape\\ud83d\\udcfc\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains the non-ASCII character U+1F4FC" },
  { name: 'tape host is a source host', input: t({ host: 'aix01' }),
    message: "tape.host \"aix01\": is not a tape host in the inventory (its role is \"source\"); tape hosts: tapesrv, lnxtape" },
  { name: 'tape host not in the inventory', input: t({ host: 'tape9' }),
    message: "tape.host \"tape9\": is not a host in the inventory (tape hosts: tapesrv, lnxtape)" },
  // tape.device
  { name: 'device with ;', input: t({ device: 'rmt0;reboot' }),
    message: "tape.device \"rmt0;reboot\": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host" },
  { name: 'device with a newline', input: t({ device: 'rmt0\nrm -rf /' }),
    message: "tape.device \"rmt0\\nrm -rf /\": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host" },
  { name: 'device ../../dev/sda', input: t({ device: '../../dev/sda' }),
    message: "tape.device \"../../dev/sda\": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host" },
  { name: 'device with a fullwidth digit', input: t({ device: 'rmt\uff10' }),
    message: "tape.device \"rmt\\uff10\": must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host" },
  { name: 'device of 5000 characters', input: t({ device: 'r'.repeat(5000) }),
    message: "tape.device \"rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr...\" (5000 characters): must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host" },
  { name: 'device not on that host', input: t({ device: 'rmt7' }),
    message: "tape.device \"rmt7\": is not a device of tapesrv in the inventory (its devices: rmt0, rmt1)" },
  { name: 'Linux device on an AIX host', input: t({ device: 'nst0' }),
    message: "tape.device \"nst0\": tapesrv runs AIX, whose tape devices are named rmt followed by digits (e.g. rmt0)" },
  { name: 'AIX device on a Linux host', input: t({ host: 'lnxtape', device: 'rmt0' }),
    message: "tape.device \"rmt0\": lnxtape runs Linux, whose no-rewind tape devices are named nst followed by digits (e.g. nst0)" },
  // backupId and the workflow ID
  { name: 'backupId with ;', input: w({ backupId: 'nightly;reboot' }),
    message: "backupId \"nightly;reboot\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains \";\"" },
  { name: 'backupId ..', input: w({ backupId: '..' }),
    message: "backupId \"..\": must start with a letter or digit" },
  { name: 'backupId a/../../etc', input: w({ backupId: 'a/../../etc' }),
    message: "backupId \"a/../../etc\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains \"/\"" },
  { name: 'backupId with a right-to-left override', input: w({ backupId: 'backup\u202egpj' }),
    message: "backupId \"backup\\u202egpj\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains the non-ASCII character U+202E" },
  { name: 'backupId with a newline', input: w({ backupId: 'b1\nrm -rf /home' }),
    message: "backupId \"b1\\nrm -rf /home\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains a newline" },
  { name: 'backupId of 300 characters', input: w({ backupId: 'b'.repeat(300) }),
    message: "backupId \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb...\" (300 characters): must be at most 128 characters (it has 300)" },
  { name: 'workflow ID that cannot name files, no backupId', input: w({}), workflowId: '$(reboot)',
    message: "backupId: the workflow ID \"__reboot_\" cannot name the backup's files (a backup ID must start with a letter or digit); give backupId in the input" },
  // mksysbFlags
  { name: 'mksysb flag with ; and a command', input: w({ mksysbFlags: ['-e; reboot'] }),
    message: "mksysbFlags[0] \"-e; reboot\": is not an allowed mksysb flag; the allowed flags are -e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), -p (do not pack files), -X (let mksysb grow /tmp)" },
  { name: 'mksysb flag not allowed', input: w({ mksysbFlags: ['-i', '-A'] }),
    message: "mksysbFlags[1] \"-A\": is not an allowed mksysb flag; the allowed flags are -e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), -p (do not pack files), -X (let mksysb grow /tmp)" },
  { name: 'mksysb flags with a newline', input: w({ mksysbFlags: ['-e\n-X'] }),
    message: "mksysbFlags[0] \"-e\\n-X\": is not an allowed mksysb flag; the allowed flags are -e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), -p (do not pack files), -X (let mksysb grow /tmp)" },
  { name: 'mksysb flags as text', input: w({ mksysbFlags: '-e -i' }),
    message: "mksysbFlags \"-e -i\": must be a list of mksysb flags such as [\"-e\", \"-i\", \"-p\"]" },
  { name: 'mksysb flag with a Unicode dash', input: w({ mksysbFlags: ['\u2013e'] }),
    message: "mksysbFlags[0] \"\\u2013e\": is not an allowed mksysb flag; the allowed flags are -e (leave out files listed in /etc/exclude.rootvg), -i (create image.data), -m (image.data with map files), -p (do not pack files), -X (let mksysb grow /tmp)" },
  // bootDevice
  { name: 'boot device with ;', input: w({ bootDevice: '/dev/rmt0;reboot' }),
    message: "bootDevice \"/dev/rmt0;reboot\": must be /dev/rmt followed by digits (e.g. /dev/rmt0)" },
  { name: 'boot device /dev/../etc/passwd', input: w({ bootDevice: '/dev/../etc/passwd' }),
    message: "bootDevice \"/dev/../etc/passwd\": must be /dev/rmt followed by digits (e.g. /dev/rmt0)" },
  { name: 'boot device a disk', input: w({ bootDevice: '/dev/hdisk0' }),
    message: "bootDevice \"/dev/hdisk0\": must be /dev/rmt followed by digits (e.g. /dev/rmt0)" },
  { name: 'boot device with a Unicode slash', input: w({ bootDevice: '/dev\u2215rmt0' }),
    message: "bootDevice \"/dev\\u2215rmt0\": must be /dev/rmt followed by digits (e.g. /dev/rmt0)" },
  // numbers
  { name: 'record 4 block size not a multiple of 512', input: w({ record4BlockSize: 1000 }),
    message: "record4BlockSize 1000: must be a multiple of 512 (e.g. 512, 65536, 262144)" },
  { name: 'record 4 block size too large', input: w({ record4BlockSize: 2097152 }),
    message: "record4BlockSize 2097152: must be a whole number from 512 to 1048576" },
  { name: 'record 4 block size as text with ;', input: w({ record4BlockSize: '512;reboot' }),
    message: "record4BlockSize \"512;reboot\": must be a whole number from 512 to 1048576" },
  { name: 'record 4 block size negative', input: w({ record4BlockSize: -512 }),
    message: "record4BlockSize -512: must be a whole number from 512 to 1048576" },
  { name: 'operatorWaitHours negative', input: w({ operatorWaitHours: -1 }),
    message: "operatorWaitHours -1: must be a number from 0 to 720" },
  { name: 'operatorWaitHours as text', input: w({ operatorWaitHours: 'forever' }),
    message: "operatorWaitHours \"forever\": must be a number from 0 to 720" },
  { name: 'retry.maxAttempts 1000', input: w({ retry: { maxAttempts: 1000 } }),
    message: "retry.maxAttempts 1000: must be a whole number from 1 to 20" },
  { name: 'maxVolumes 0', input: w({ maxVolumes: 0 }),
    message: "maxVolumes 0: must be a whole number from 1 to 99" },
  { name: 'maxVolumes 2.5', input: w({ maxVolumes: 2.5 }),
    message: "maxVolumes 2.5: must be a whole number from 1 to 99" },
  { name: 'maxVolumes as text', input: w({ maxVolumes: '3' }),
    message: "maxVolumes \"3\": must be a whole number from 1 to 99, written without quotes" },
  // verify, overwrite, labels, staging
  { name: 'verify with ;', input: w({ verify: 'full; reboot' }),
    message: "verify \"full; reboot\": must be one of \"full\", \"lsmksysb\", \"none\"" },
  { name: 'verify lsmksysb on a Linux tape host', input: { source: 'aix01', tape: { host: 'lnxtape', device: 'nst0' }, verify: 'lsmksysb' },
    message: "verify \"lsmksysb\": lsmksysb exists only on AIX and lnxtape runs Linux; use \"full\" or \"none\"" },
  { name: 'overwrite as text', input: w({ overwrite: 'yes' }),
    message: "overwrite \"yes\": must be true or false" },
  { name: 'expectedLabel with $()', input: w({ expectedLabel: '$(reboot)' }),
    message: "expectedLabel \"$(reboot)\": may contain only letters, digits, \".\", \"_\" and \"-\"; it contains \"$\"" },
  { name: 'keepStaging as a number', input: w({ keepStaging: 1 }),
    message: "keepStaging 1: must be true or false" },
  // work folders
  { name: 'source work folder with ..', input: w({ workFolder: { source: '/home/mksysb/../../etc' } }),
    message: "workFolder.source \"/home/mksysb/../../etc\": must not contain \"..\"" },
  { name: 'source work folder relative', input: w({ workFolder: { source: 'home/mksysb' } }),
    message: "workFolder.source \"home/mksysb\": must be an absolute path starting with \"/\" (e.g. /home/mksysb)" },
  { name: 'tape work folder with ;', input: w({ workFolder: { tape: '/tmp/x;reboot' } }),
    message: "workFolder.tape \"/tmp/x;reboot\": may contain only letters, digits, \".\", \"_\", \"-\" and \"/\"; it contains \";\"" },
  { name: 'tape work folder with Unicode', input: w({ workFolder: { tape: '/home/m\u00fcksysb' } }),
    message: "workFolder.tape \"/home/m\\u00fcksysb\": may contain only letters, digits, \".\", \"_\", \"-\" and \"/\"; it contains the non-ASCII character U+00FC" },
  { name: 'tape work folder of 5000 characters', input: w({ workFolder: { tape: '/' + 'a'.repeat(4999) } }),
    message: "workFolder.tape \"/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\" (5000 characters): must be at most 200 characters (it has 5000)" },
  { name: 'tape work folder with a newline', input: w({ workFolder: { tape: '/home/a\nb' } }),
    message: "workFolder.tape \"/home/a\\nb\": may contain only letters, digits, \".\", \"_\", \"-\" and \"/\"; it contains a newline" },
  { name: 'work folder /', input: w({ workFolder: { source: '/' } }),
    message: "workFolder.source \"/\": must not be \"/\" itself; name a staging folder such as /home/mksysb" },
  // unknown fields and several problems at once
  { name: 'unknown field "command"', input: w({ command: 'reboot' }),
    message: "command: unknown field; the fields are source, tape, backupId, mksysbFlags, bootDevice, record4BlockSize, verify, overwrite, maxVolumes, writeWhileMksysb, expectedLabel, keepStaging, workFolder, operatorWaitHours, retry" },
  { name: 'unknown field inside tape', input: t({ cmd: 'dd if=/dev/zero of=/dev/rmt0' }),
    message: "tape.cmd: unknown field; the fields are host, device" },
  { name: 'unknown source and unknown device', input: { source: 'aix42', tape: { host: 'tapesrv', device: 'rmt5' } },
    message: "source \"aix42\": is not a host in the inventory (source hosts: aix01, aix02); tape.device \"rmt5\": is not a device of tapesrv in the inventory (its devices: rmt0, rmt1)" },
];
