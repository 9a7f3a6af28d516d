/** What a finished mksysbToTape run returns: each record as it is on tape, how the images moved, what verification found. */
import type { RunPlan, VerifyOutcome } from '../activities';
import type { BackupResult, RecordResult } from '../shared/contract';
import type { TapePlan } from '../tape/layout';
import type { RunStatus } from './run-status';
import type { StagedImages } from './staged-images';
import type { TapePhase } from './tape-phase';

/** The tape passed the verification the backup asked for (lsmksysb -V, and with `full` every record read back). */
export function tapeVerified(plan: RunPlan, verification: VerifyOutcome | undefined): boolean {
  return (
    verification !== undefined &&
    verification.lsmksysb !== false &&
    verification.install?.ok !== false &&
    (plan.backup.verify !== 'full' || verification.records.every((r) => r.ok))
  );
}

export function backupResult(
  plan: RunPlan,
  tape: TapePlan,
  images: StagedImages,
  written: TapePhase,
  status: RunStatus,
  stagingKept: boolean,
): BackupResult {
  const { backup } = plan;
  const { verification, set } = written;
  const spanned = set.volumes.length > 1;
  const records: RecordResult[] = tape.records.map((r) => {
    const k = r.record;
    const check = verification?.records.find((c) => c.record === k);
    return {
      record: k,
      name: r.name,
      // Record 4 of a set that spans cartridges: volume 1's share of it.
      bytes: k === 4 && spanned ? set.volumes[0]!.tapeBytes : r.bytes,
      blockSize: r.blockSize,
      sha256: check?.actual ?? (k === 3 ? '' : images.image(k).sha256),
      writes: written.writes[k] ?? 0,
    };
  });
  return {
    backupId: backup.backupId,
    source: backup.source,
    tape: backup.tape,
    records,
    transfers: status.transfers,
    verification: {
      level: backup.verify,
      lsmksysb: verification?.lsmksysb ?? set.stagedCheck?.ok ?? null,
      readBack: backup.verify === 'full' ? (verification?.records.every((r) => r.ok) ?? false) : null,
      installImage: verification?.install?.ok ?? null,
      details: [
        ...(verification?.lsmksysbDetail ? [`lsmksysb: ${verification.lsmksysbDetail}`] : []),
        ...(verification?.install ? [`install image: ${verification.install.ok ? 'ok' : 'WOULD NOT INSTALL'}: ${verification.install.detail}`] : []),
        ...(set.stagedCheck ? [`lsmksysb -V of the staged image: ${set.stagedCheck.detail}`] : []),
        ...(spanned ? set.volumes.map((v) => `volume ${v.volume}: archive bytes ${v.from}..${v.from + v.archiveBytes}, ${v.tapeBytes} on tape ${v.sha256}`) : []),
        ...(verification?.records ?? []).map((r) => `record ${r.record}: ${r.ok ? 'ok' : r.detail} ${r.actual ?? ''}`.trim()),
      ],
    },
    ...(set.spanning ? { volumes: set.volumes } : {}),
    durations: status.durations,
    stagingKept,
  };
}
