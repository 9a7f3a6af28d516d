/**
 * Issue 6, "must show": every bad input (test/safety/bad-inputs.ts) started as a real mksysbToTape workflow fails at
 * once with a non-retryable InputValidationError whose message is exactly what the table says, after one attempt of
 * the validating activity and no other activity; and no remote command ran for any of them: every lab host's
 * command log is empty and no TCP connection reached any host's sshd (a counting relay sits in front of each).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { backupEnv } from '../helpers/backup';
import { checkInventory } from '../../src/client/inventory-check';
import { BAD_INPUTS } from './bad-inputs';
import { assertNoCommands, countConnections } from './env';

test(`${BAD_INPUTS.length} bad inputs fail before any remote command, each with its exact message`, async () => {
    const env = await backupEnv({
      lab: {
        sources: ['aix01', 'aix02'],
        tapeHosts: [
          { name: 'tapesrv', os: 'aix', drives: 2 },
          { name: 'lnxtape', os: 'linux', drives: 1 },
        ],
      },
    });
    const conns = await countConnections(env.lab);
    assert.ok(BAD_INPUTS.length >= 40);
    const outcomes = await Promise.all(
      BAD_INPUTS.map(async (c) => {
        const handle = await env.t.client.workflow.start('mksysbToTape', {
          taskQueue: env.config.taskQueue,
          workflowId: c.workflowId ?? `mksysb-tape/safety/${randomUUID()}`,
          args: [c.input],
        });
        const err = await handle.result().then(
          () => undefined,
          (e: unknown) => e,
        );
        const history = await handle.fetchHistory();
        const activities = (history.events ?? [])
          .filter((e) => e.activityTaskScheduledEventAttributes)
          .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
        const attempts = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.attempt);
        return { c, err, activities, attempts };
      }),
    );
    for (const { c, err, activities, attempts } of outcomes) {
      assert.ok(err instanceof WorkflowFailedError, `${c.name}: the run must fail, got ${String(err)}`);
      const cause = err.cause;
      assert.ok(cause instanceof ApplicationFailure, `${c.name}: cause ${String(cause)}`);
      assert.equal(cause.message, `invalid backup input: ${c.message}`, c.name);
      assert.equal(cause.type, 'InputValidationError', c.name);
      assert.equal(cause.nonRetryable, true, c.name);
      assert.deepEqual(activities, ['resolveBackup'], `${c.name}: only the validation ran`);
      assert.deepEqual(attempts, [1], `${c.name}: validation was not retried`);
    }
    await assertNoCommands(env.lab, 'after the bad inputs');
    assert.deepEqual(conns.counts, { aix01: 0, aix02: 0, tapesrv: 0, lnxtape: 0 }, 'no SSH connection was opened');

    // The relays are in the path: the inventory check connects to every host through them.
    const report = await checkInventory(env.lab.inventoryPath, { minFreeBytes: 0 });
    assert.ok(report.hosts.every((h) => h.connected && h.hostKey === 'ok'), JSON.stringify(report.hosts.map((h) => h.problems)));
    assert.ok(conns.counts.aix01! > 0 && conns.counts.tapesrv! > 0 && conns.counts.lnxtape! > 0, JSON.stringify(conns.counts));
});
