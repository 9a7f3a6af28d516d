/**
 * Workflow code of the fleet history benchmark (bench/fleet-history.ts): the project's mksysbFleet, unchanged, with a
 * stand-in for its children. The fleet's history holds only its children's starts and ends (and what it does between
 * them), so a child that waits a moment and returns a result of the backup's shape gives the fleet the same events
 * as a real backup, for thousands of sources, without thousands of lab hosts.
 */
import { sleep } from '@temporalio/workflow';
import type { BackupInput, BackupResult } from '../src/shared/contract';

export { mksysbFleet } from '../src/workflows/fleet';

/** Ends after 1 to 4 s, by a hash of the source's name, so that children mostly end one by one, as real ones do. */
export async function mksysbToTape(input: BackupInput): Promise<BackupResult> {
  let h = 0;
  for (const c of input.source) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  await sleep(1000 + (h % 3000));
  return {
    backupId: input.backupId ?? input.source,
    source: input.source,
    tape: input.tape,
    records: [1, 2, 3, 4].map((record) => ({ record: record as 1 | 2 | 3 | 4, name: `record ${record}`, bytes: 512 * record, blockSize: 512, sha256: '0'.repeat(64), writes: 1 })),
    verification: { level: 'none', lsmksysb: null, readBack: null, details: [] },
    durations: {},
    stagingKept: true,
  };
}
