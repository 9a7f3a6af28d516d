/**
 * The tape host's side: preparing the drive, writing each of the four records (positioned absolutely: rewind, then
 * `fsf k-1` on the no-rewind device), verifying what is on tape, and removing staging files once the tape is verified.
 * Record writes run detached on the tape host: a worker that dies mid-write leaves the `dd` running, and the next
 * attempt re-attaches to it instead of starting a second writer on the same drive. Every attempt first claims the
 * drive (drive-fence.ts), and runs what moves or reads the tape under that claim, so an attempt Temporal has given up
 * on cannot move the tape under the one that replaced it.
 */
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { detached, driverFor, drivers, images, layout, readback, shell, stagedPath, volumes, writeRecordAt, type RecordNumber } from '../tape';
import type { ActivityHosts } from './hosts';
import { FencedDrive } from './drive-fence';
import { cartridgeStatus, reachedEnd } from './drive-checks';
import { ANY_FAILURE } from './failures';
import type { Client } from '@temporalio/client';
import type { BackupResult } from '../shared/contract';
import type { RecordCheck, RecordWrite, RunPlan, StagedImage, VerifyOutcome } from './types';

export function tapeActivities(hosts: ActivityHosts, client?: Client) {
  return {
    async prepareTape(plan: RunPlan, opts: { checkBlank: boolean }): Promise<{ blank: boolean | null }> {
      const { backup } = plan;
      const driver = driverFor(plan.tapeOs);
      const dev = backup.tape.device;
      const where = `${backup.tape.host}:${dev}`;
      const drive = await FencedDrive.claim(hosts, plan);
      await requireCartridge(drive, plan, where);
      await drive.run(`prepare ${where}`, shell.and(...driver.prepare(dev)));
      if (!opts.checkBlank) return { blank: null };
      const start = await drive.run(`read the start of the cartridge in ${where}`, driver.readCartridgeStart(dev));
      const first = drivers.parseCartridgeStart(start.stdout);
      if (first.hasData && !backup.overwrite) {
        await refuseUnlessOwnOrExpected(hosts, drive, client, plan, where, first.bytes);
        return { blank: false };
      }
      return { blank: !first.hasData };
    },

    /**
     * `generation` names this write's detached command (`write-r<k>-<generation>`): the workflow makes it unique per
     * run and per pass over the tape, so a retried attempt re-attaches to its own write and never to an older one.
     */
    async writeRecord(plan: RunPlan, k: RecordNumber, generation: string, image?: StagedImage, opts: { spanning?: boolean } = {}): Promise<RecordWrite> {
      const { backup, tapeOs, stagingTape } = plan;
      const driver = driverFor(tapeOs);
      const dev = backup.tape.device;
      if (k !== 3 && !image) throw ApplicationFailure.nonRetryable(`record ${k} needs its staged image`, 'ShellValueError');
      const { stagedPath: file, blockSize: bs, bytes } = layout.planRecord(k, image?.bytes ?? 0, backup.record4BlockSize, stagingTape);
      const name = `write-r${k}-${generation}`;
      // A retried attempt re-attaches to its own running write: the claim spares it and stops anything older.
      const drive = await FencedDrive.claim(hosts, plan, { keep: name });
      const eomFile = volumes.endOfMediumFile(stagingTape, name);
      const write = shell.and(...driver.setBlockSize(dev, bs), writeRecordAt(driver, dev, k, file, bs));
      const cmd = drive.detached(name, volumes.endOfMediumIsResult(write, eomFile));
      const r = await hosts.runDetached(
        backup.tape.host,
        `write record ${k} to ${backup.tape.host}:${dev}`,
        stagingTape,
        name,
        cmd,
        (elapsedMs) => ({ stage: 'tape-write', record: k, bytesTotal: bytes, elapsedMs }),
      );
      const endOfMedium = await reachedEnd(hosts, plan, eomFile);
      // Only record 4 may go on to a next cartridge, and only when the backup may span them; anything else that fills
      // the cartridge means it holds less than the images need.
      if (endOfMedium && !(k === 4 && opts.spanning)) {
        throw ApplicationFailure.nonRetryable(
          `the cartridge in ${backup.tape.host}:${dev} reached its end of medium while record ${k} was written: it holds less than ` +
            `the images need${plan.capacityBytes ? ` (the inventory says ${plan.capacityBytes} bytes)` : ''}. Load a larger cartridge and retry, ` +
            'or start the backup with "maxVolumes" above 1 to span cartridges',
          'EndOfMedium',
        );
      }
      return { record: k, tapeBytes: bytes, blockSize: bs, reattached: r.attached, endOfMedium };
    },

    /**
     * lsmksysb -V and (verify "full") every record read back. `records`: only these. Records 1-3 alone: a volume 1
     * whose record 4 goes on to further cartridges (checked by volume; lsmksysb cannot follow it there without a
     * terminal), or records 1-3 checked while mksysb still runs (writeWhileMksysb). Record 4 alone: its check once the
     * stream wrote it (lsmksysb -V, or the one-pass read-back), the other records having been checked before.
     */
    async verifyTape(plan: RunPlan, staged: StagedImage[], opts: { records?: RecordNumber[] } = {}): Promise<VerifyOutcome> {
      const { backup, tapeOs } = plan;
      const driver = driverFor(tapeOs);
      const dev = backup.tape.device;
      const tapeHost = backup.tape.host;
      const bs4 = layout.blockSizeFor(4, backup.record4BlockSize);
      const out: VerifyOutcome = { lsmksysb: null, records: [] };
      const drive = await FencedDrive.claim(hosts, plan);
      const aix = tapeOs === 'aix';
      const full = backup.verify === 'full';
      const records = opts.records ?? layout.RECORD_NUMBERS;
      // Record 4 is checked as an archive only when it is asked for: a volume 1 that goes on asks for records 1-3.
      const archive = records.includes(4);
      // With the whole set on this cartridge, verify "full" on AIX reads record 4 once, for its SHA-256 and for
      // restore's check of the archive together; otherwise lsmksysb -V reads it.
      const onePass = aix && full && archive;
      const check = !archive || onePass ? null : driver.verifyMksysb(dev);
      if (check && backup.verify !== 'none') {
        const res = await drive.run(`list the backup on ${tapeHost}:${dev}`, shell.and(...driver.setBlockSize(dev, bs4), check), { allowExit: ANY_FAILURE });
        out.lsmksysb = res.code === 0;
        out.lsmksysbDetail = lastLines(res.stdout + res.stderr);
      }
      if (aix && !full && backup.verify !== 'none' && records.includes(2)) out.install = (await readInstallImage(drive, plan)).install;
      if (!full) return out;

      for (const k of records) {
        const bs = layout.blockSizeFor(k, backup.record4BlockSize);
        const expected = await expectedSha(hosts, plan, k, staged);
        let got: ReadBack;
        if (k === 4 && onePass) {
          const r = await readArchive(drive, plan, bs);
          ({ got } = r);
          out.lsmksysb = r.restore.status === 0;
          out.lsmksysbDetail = `restore -Tqf - on the read-back of record 4 (one pass with its SHA-256): ${r.restore.said}`.slice(0, 400);
        } else if (k === 2 && aix) {
          const r = await readInstallImage(drive, plan);
          ({ got } = r);
          out.install = r.install;
        } else got = await readBackSha(drive, plan, k, bs);
        const rc: RecordCheck = { record: k, expected, actual: got.sha256, ok: got.ok && got.sha256 === expected };
        if (!got.ok) rc.detail = `read failed (status ${got.status}): ${got.stderr}`;
        else if (!rc.ok) rc.detail = `SHA-256 on tape ${got.sha256}, expected ${expected}`;
        out.records.push(rc);
      }
      await drive.run('rewind', driver.rewind(dev));
      return out;
    },

    async cleanupStaging(plan: RunPlan): Promise<void> {
      const { backup } = plan;
      await hosts.run(backup.source, `remove ${plan.stagingSource}`, images.removeStaging(backup.workFolder.source, plan.stagingSource));
      await hosts.run(backup.tape.host, `remove ${plan.stagingTape}`, images.removeStaging(backup.workFolder.tape, plan.stagingTape));
    },
  };
}

/** Fails unless a cartridge is loaded in the drive; a device that does not exist is not retryable. */
async function requireCartridge(drive: FencedDrive, plan: RunPlan, where: string): Promise<void> {
  const status = await cartridgeStatus((w, c, o) => drive.run(w, c, o), plan);
  if (status.loaded) return;
  if (/does not exist|No such (device|file)|0514-/.test(status.text)) {
    throw ApplicationFailure.nonRetryable(`tape device ${where} does not exist: ${status.detail}`, 'DeviceAbsent');
  }
  throw ApplicationFailure.retryable(`no tape is loaded in ${where} (${status.detail}): load a cartridge, then retry`, 'NoTapeLoaded');
}

/**
 * A cartridge that holds data may be written over only when it is this backup's own partial tape or the expected
 * backup's tape (`expectedLabel`); otherwise the backup stops before writing anything.
 */
async function refuseUnlessOwnOrExpected(
  hosts: ActivityHosts,
  drive: FencedDrive,
  client: Client | undefined,
  plan: RunPlan,
  where: string,
  firstBlockBytes: number,
): Promise<void> {
  const { backup } = plan;
  // This backup wrote record 1 of this very cartridge before (a failed run started again): rewriting it is safe.
  if (await ownPartialTape(hosts, drive, plan)) return;
  let why = '';
  if (backup.expectedLabel) {
    const label = await labelMatches(drive, client, plan, backup.expectedLabel);
    if (label.ok) return;
    why = ` (the cartridge is not the expected backup ${JSON.stringify(backup.expectedLabel)}: ${label.why})`;
  }
  throw ApplicationFailure.nonRetryable(
    `the cartridge in ${where} already holds data (its first block has ${firstBlockBytes} bytes); ` +
      `refusing to overwrite it. Load a blank or scratch cartridge, or start the backup with "overwrite": true${why}`,
    'TapeNotBlank',
  );
}

/**
 * Is the cartridge the partial tape of this same backup? True when a record-1 write of this backup (its staging folder
 * on the tape host keeps the exit status of every write) finished with status 0, and the cartridge's record 1 is
 * byte for byte this backup's boot image padded to 512. A cartridge swapped since then has another record 1.
 */
export async function ownPartialTape(hosts: ActivityHosts, drive: FencedDrive, plan: RunPlan): Promise<boolean> {
  const { backup, stagingTape } = plan;
  const wrote = await hosts.run(backup.tape.host, 'look for an earlier record-1 write of this backup', detached.anySucceeded(stagingTape, 'write-r1-'));
  if (!detached.parseAnySucceeded(wrote.stdout)) return false;
  const file = stagedPath(stagingTape, 1);
  const size = images.parseSizeOrAbsent((await hosts.run(backup.tape.host, `size of ${file}`, images.fileSizeOrAbsent(file))).stdout);
  if (size === null) return false;
  const mine = await paddedSha(hosts, plan, file, layout.paddedLength(size, layout.TAPE_BLOCK_SIZE) - size);
  const onTape = await readBackSha(drive, plan, 1, layout.TAPE_BLOCK_SIZE);
  return mine !== null && onTape.ok && mine === onTape.sha256;
}

/**
 * The cartridge's "label" check for `expectedLabel`: a bootable mksysb tape has no label field, so the label is the
 * tape's own content. The expected backup (a workflow ID, or a backup ID found among the source's completed runs) must
 * be a completed backup of the same source, and records 1 and 2 on the cartridge must have the SHA-256s its result
 * recorded when it read them back. Then the cartridge is that backup's tape and may be written over.
 */
async function labelMatches(drive: FencedDrive, client: Client | undefined, plan: RunPlan, label: string): Promise<{ ok: boolean; why: string }> {
  if (!client) return { ok: false, why: 'the worker has no Temporal client to look it up' };
  const { backup } = plan;
  const prev = await findBackupResult(client, backup.source, label);
  if (!prev) return { ok: false, why: `no completed backup of ${backup.source} with that workflow or backup ID` };
  if (prev.source !== backup.source) return { ok: false, why: `it was a backup of ${prev.source}, not of ${backup.source}` };
  for (const k of [1, 2] as const) {
    const want = prev.records.find((r) => r.record === k)?.sha256;
    const got = await readBackSha(drive, plan, k, layout.TAPE_BLOCK_SIZE);
    if (!want || !got.ok || got.sha256 !== want) return { ok: false, why: `record ${k} on the cartridge differs from that backup's` };
  }
  return { ok: true, why: '' };
}

async function findBackupResult(client: Client, source: string, label: string): Promise<BackupResult | undefined> {
  const resultOf = async (workflowId: string): Promise<BackupResult | undefined> => {
    try {
      const h = client.workflow.getHandle(workflowId);
      if ((await h.describe()).status.name !== 'COMPLETED') return undefined;
      return (await h.result()) as BackupResult;
    } catch {
      return undefined;
    }
  };
  const direct = await resultOf(label);
  if (direct) return direct;
  const q = `WorkflowType = 'mksysbToTape' AND ExecutionStatus = 'Completed' AND MksysbSource = '${source.replace(/'/g, '')}'`;
  let n = 0;
  for await (const wf of client.workflow.list({ query: q })) {
    if (++n > 200) break;
    const r = await resultOf(wf.workflowId);
    if (r?.backupId === label) return r;
  }
  return undefined;
}

async function expectedSha(hosts: ActivityHosts, plan: RunPlan, k: RecordNumber, staged: StagedImage[]): Promise<string> {
  if (k === 3) return createHash('sha256').update(layout.dummyTocBytes()).digest('hex');
  const image = staged.find((s) => s.record === k);
  if (!image) throw ApplicationFailure.nonRetryable(`no staged image for record ${k}`, 'ShellValueError');
  const onTape = layout.planRecord(k, image.bytes, plan.backup.record4BlockSize, plan.stagingTape);
  const padding = onTape.bytes - image.bytes;
  if (padding === 0) return image.sha256;
  const file = onTape.stagedPath!;
  const sha = await paddedSha(hosts, plan, file, padding);
  if (!sha) throw ApplicationFailure.retryable(`cannot read ${file} on ${plan.backup.tape.host}`, 'CommandFailed');
  return sha;
}

type ReadBack = { ok: boolean; sha256: string | null; status: number | null; stderr: string };

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ').slice(0, 400);
}

/** Record 4 read back once into its SHA-256 and `restore -Tqf -` (src/tape/readback.ts). */
async function readArchive(drive: FencedDrive, plan: RunPlan, bs: number): Promise<{ got: ReadBack; restore: { status: number | null; said: string } }> {
  const driver = driverFor(plan.tapeOs);
  const dev = plan.backup.tape.device;
  const dir = shell.joinPath(plan.stagingTape, '.readback-r4');
  const res = await drive.run(
    'read back record 4 into its SHA-256 and restore -T',
    shell.and(...driver.setBlockSize(dev, bs), ...driver.positionForRecord(dev, 4), readback.readArchiveChecked(plan.tapeOs, driver.noRewindDevice(dev), bs, dir)),
    { allowExit: [1, 2] },
  );
  return { got: { ...images.parseSha256WithStatus(res.stdout), stderr: res.stderr.trim().slice(-200) }, restore: readback.parseReader(res.stdout) };
}

/**
 * Record 2 read back once into its SHA-256 and restore's extraction of what BOS install reads from it: a tape whose
 * install image lacks image.data or bosinst.data, or whose ./tapeblksz disagrees with record 4's block size, would
 * not install.
 */
async function readInstallImage(drive: FencedDrive, plan: RunPlan): Promise<{ got: ReadBack; install: { ok: boolean; detail: string } }> {
  const driver = driverFor(plan.tapeOs);
  const dev = plan.backup.tape.device;
  const bs4 = layout.blockSizeFor(4, plan.backup.record4BlockSize);
  const dir = shell.joinPath(plan.stagingTape, '.readback-r2');
  const res = await drive.run(
    'read back record 2 into its SHA-256 and restore -x of the install files',
    shell.and(...driver.setBlockSize(dev, layout.TAPE_BLOCK_SIZE), ...driver.positionForRecord(dev, 2), readback.readInstallImageChecked(plan.tapeOs, driver.noRewindDevice(dev), dir)),
    { allowExit: [1, 2] },
  );
  const got = { ...images.parseSha256WithStatus(res.stdout), stderr: res.stderr.trim().slice(-200) };
  const reader = readback.parseReader(res.stdout);
  const found = readback.parseInstallFiles(res.stdout);
  const problem = readback.installProblem(found, bs4);
  const detail = problem ?? `record 2 holds ${found.files.join(', ')}${found.tapeblksz ? ` (./tapeblksz "${found.tapeblksz}")` : ''}`;
  return { got, install: { ok: problem === undefined && (reader.status === 0 || found.files.length > 0), detail: reader.status === 0 || problem ? detail : `${detail}; restore: ${reader.said}` } };
}

/** Positions at record k (drive at block size `bs`) and hashes what the drive returns for it. */
async function readBackSha(drive: FencedDrive, plan: RunPlan, k: RecordNumber, bs: number): Promise<ReadBack> {
  const driver = driverFor(plan.tapeOs);
  const dev = plan.backup.tape.device;
  const res = await drive.run(
    `read back record ${k}`,
    shell.and(...driver.setBlockSize(dev, bs), driver.readRecordSha256(dev, k, bs)),
    { allowExit: [1, 2] },
  );
  return { ...images.parseSha256WithStatus(res.stdout), stderr: res.stderr.trim().slice(-200) };
}

/** SHA-256 of a staged file on the tape host followed by `padding` NULs (what `dd conv=sync` puts on tape). */
async function paddedSha(hosts: ActivityHosts, plan: RunPlan, file: string, padding: number): Promise<string | null> {
  const res = await hosts.run(plan.backup.tape.host, `SHA-256 of ${file} padded by ${padding}`, images.sha256FilePadded(plan.tapeOs, file, padding));
  const got = images.parseSha256WithStatus(res.stdout);
  return got.ok ? got.sha256 : null;
}
