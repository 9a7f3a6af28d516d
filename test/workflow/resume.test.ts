/**
 * A tape write that fails at record k resumes at record k: records before k are written once, k again, and nothing
 * on the source runs twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertTapeHolds, backupEnv, sourceImages, sourceRuns, tapeWrites } from '../helpers/backup';

for (const k of [1, 2, 3, 4]) {
  test(`a write failure at record ${k} resumes at record ${k}`, async () => {
    const env = await backupEnv();
    await env.lab.fault('tapesrv', `write-fail file=${k} nth=1`);
    const result = await env.run({ keepStaging: true });
    assert.deepEqual(await sourceRuns(env), { bosboot: 1, mkinsttape: 1, mksysb: 1 });
    const writes = await tapeWrites(env);
    const expected = [1, 2, 3, 4].flatMap((f) => (f === k ? [f, f] : [f]));
    assert.deepEqual(writes.map((w) => w.file), expected, `tape files written in order: ${JSON.stringify(writes)}`);
    assert.notEqual(writes[k - 1]!.exit, 0, 'the first write of record k failed');
    assert.deepEqual(result.records.map((r) => r.writes), [1, 1, 1, 1], "each record ends with one successful write");
    await assertTapeHolds(env, sourceImages(env, result.backupId));
  });
}
