/** First step of every run: validate the input against the schema and the inventory, before any remote command. */
import { ApplicationFailure } from '@temporalio/activity';
import { checkInputAgainstInventory, hostHasRole, InputValidationError, parseBackupInput } from '../schema';
import { backupIdFromWorkflowId } from '../shared/contract';
import type { StagePolicies } from '../shared/policies';
import { stagingDir } from '../tape';
import { NON_RETRYABLE_TYPES } from './failures';
import type { ActivityHosts } from './hosts';
import type { RunPlan } from './types';

export function resolveActivities(hosts: ActivityHosts, policies: StagePolicies) {
  return {
    async resolveBackup(input: unknown, workflowId: string): Promise<RunPlan> {
      const inv = await hosts.inventory();
      let backup;
      try {
        const resolved = parseBackupInput(input, { workflowId: backupIdFromWorkflowId(workflowId) });
        backup = checkInputAgainstInventory(resolved, inv);
      } catch (err) {
        if (err instanceof InputValidationError) {
          throw ApplicationFailure.create({ message: err.message, type: 'InputValidationError', nonRetryable: true, details: [err.issues] });
        }
        throw err;
      }
      const tape = inv.hosts[backup.tape.host]!;
      if (!hostHasRole(tape, 'tape')) throw ApplicationFailure.nonRetryable(`${backup.tape.host} is not a tape host`, 'InputValidationError');
      return {
        backup,
        policies,
        nonRetryableTypes: [...NON_RETRYABLE_TYPES],
        tapeOs: tape.os,
        capacityBytes: tape.devices?.[backup.tape.device]?.capacityBytes,
        ...autoloaderOf(tape.devices?.[backup.tape.device]),
        stagingSource: stagingDir(backup.workFolder.source, backup.backupId),
        stagingTape: stagingDir(backup.workFolder.tape, backup.backupId),
      };
    },
  };
}

/** The drive's autoloader, when the inventory gives it one. */
function autoloaderOf(device: { autoloader?: 'sequential'; autoloaderWaitSeconds?: number } | undefined): Pick<RunPlan, 'autoloader' | 'autoloaderWaitSeconds'> {
  if (!device?.autoloader) return {};
  return { autoloader: device.autoloader, ...(device.autoloaderWaitSeconds ? { autoloaderWaitSeconds: device.autoloaderWaitSeconds } : {}) };
}
