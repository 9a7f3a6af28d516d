/** What a fleet and the client say of a child backup's end (src/shared/failures.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApplicationFailure, CancelledFailure, ChildWorkflowFailure, RetryState } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { describeChildFailure } from '../../src/shared/failures';

const execution = { workflowId: 'mksysb-fleet/f/aix02', runId: 'r' };

test('a failed child: the stage error, without the child wrapper', () => {
  const err = new ChildWorkflowFailure('default', execution, 'mksysbToTape', RetryState.NON_RETRYABLE_FAILURE,
    ApplicationFailure.nonRetryable('the tape write (record 4) failed: dd: 0511-053 The write failed', 'StageFailed'));
  assert.equal(describeChildFailure(err), 'the tape write (record 4) failed: dd: 0511-053 The write failed');
});

test('a cancelled child says cancelled, from the workflow (ChildWorkflowFailure) and from the client (WorkflowFailedError)', () => {
  const inWorkflow = new ChildWorkflowFailure('default', execution, 'mksysbToTape', RetryState.NON_RETRYABLE_FAILURE, new CancelledFailure(''));
  assert.equal(describeChildFailure(inWorkflow), 'cancelled');
  const inClient = new WorkflowFailedError('Workflow execution cancelled', new CancelledFailure('Workflow canceled'), RetryState.NON_RETRYABLE_FAILURE);
  assert.equal(describeChildFailure(inClient.cause), 'cancelled');
});
