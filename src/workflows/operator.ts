/**
 * The operator's part in a mksysbToTape run: when a stage has used up its activity retries, the run does not fail at
 * once but waits, for the backup's `operatorWaitHours`, for a `retry` (optionally from a given record) or an `abort`,
 * sent as a signal (`retry`, `abort`) or an update (`retryNow`, `abortNow`, refused when the run is not waiting).
 * A cancel request during the wait ends it like any other: the run reports itself cancelled (RunStatus.cancelled).
 * People are told when the wait starts and when it ends (notify.ts); a run that ends with the wait ends after that.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import { abortSignal, abortUpdate, retrySignal, retryUpdate, type AbortRequest, type RetryRequest, type StageName } from '../shared/contract';
import { failureMessage, failureType } from '../shared/failures';
import { stageFailedText } from '../shared/stages';
import { asCancellation, runCancelled } from './cancellation';
import { tellPeople } from './notify';
import type { RunStatus } from './run-status';

type Decision = { kind: 'retry'; request: RetryRequest } | { kind: 'abort'; request: AbortRequest };

/** Failure types where waiting for an operator cannot help: the run fails at once. */
const FAIL_AT_ONCE = ['InputValidationError', 'InventoryValidationError'];

export class Operator {
  private decision: Decision | undefined;

  /** Installs the signal and update handlers; call before the run's first await. */
  constructor(private readonly status: RunStatus) {
    const progress = status.progress;
    setHandler(retrySignal, (req) => {
      if (progress.waiting && progress.waiting.for !== 'cartridge') this.decision = { kind: 'retry', request: req ?? {} };
    });
    setHandler(abortSignal, (req) => {
      if (progress.waiting) this.decision = { kind: 'abort', request: req ?? {} };
    });
    const notWaiting = (_req?: RetryRequest | AbortRequest) => {
      if (!progress.waiting) throw new Error(`the run is not waiting for an operator (stage ${progress.stage}, ${progress.outcome})`);
    };
    setHandler(
      retryUpdate,
      async (req) => {
        this.decision = { kind: 'retry', request: req ?? {} };
        await condition(() => progress.waiting === undefined);
        return `retrying ${progress.stage}`;
      },
      {
        validator: (req) => {
          notWaiting(req);
          if (progress.waiting?.for === 'cartridge') throw new Error('the run waits for a cartridge: send volumeLoaded once it is loaded');
        },
      },
    );
    setHandler(
      abortUpdate,
      async (req) => {
        this.decision = { kind: 'abort', request: req ?? {} };
        return `aborting: ${req?.reason ?? 'operator request'}`;
      },
      { validator: notWaiting },
    );
  }

  /** An `abort` came while the run waits for something other than `ask` (the next cartridge). */
  abortPending(): boolean {
    return this.decision?.kind === 'abort';
  }

  /** The pending `abort`, taken (undefined when there is none); any other decision is dropped. */
  takeAbort(): AbortRequest | undefined {
    const d = this.decision;
    this.decision = undefined;
    return d?.kind === 'abort' ? d.request : undefined;
  }

  /** Runs fn; when it has used its retries, asks the operator and runs it again on `retry`. */
  async withOperatorRetry<T>(stage: StageName, fn: () => Promise<T>, record?: number): Promise<T> {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        await this.ask(stage, err, record);
      }
    }
  }

  /**
   * Waits for retry or abort after a stage used its retries: the retry request; throws on abort or time-out. A step
   * that ended because the run was cancelled is no case for an operator: the cancellation goes on up.
   */
  async ask(stage: StageName, err: unknown, record?: number): Promise<RetryRequest> {
    if (runCancelled(err)) throw asCancellation(err);
    const { status } = this;
    const { progress } = status;
    const reason = failureMessage(err);
    progress.lastError = reason;
    const type = failureType(err);
    if (type && FAIL_AT_ONCE.includes(type)) throw ApplicationFailure.nonRetryable(reason, type);
    const what = stageFailedText(stage, record);
    const hours = status.plan?.backup.operatorWaitHours ?? 24;
    if (hours <= 0) throw ApplicationFailure.nonRetryable(`${what} failed: ${reason}`, type ?? 'StageFailed');
    const until = new Date(Date.now() + hours * 3600_000).toISOString();
    progress.waiting = { stage, record, reason, until };
    status.setOutcome('waiting');
    status.show(stage, `waiting for an operator after ${what} failed`, { record });
    const told = tellPeople(status, { waitingFor: 'operator', stage, record, reason, until });
    this.decision = undefined;
    let decided: boolean;
    try {
      decided = await condition(() => this.decision !== undefined, hours * 3600_000);
    } catch (err) {
      if (runCancelled(err)) await told('cancelled');
      throw err;
    }
    const d = this.decision as Decision | undefined;
    progress.waiting = undefined;
    this.decision = undefined;
    if (!decided || !d) {
      await told('timeout');
      throw ApplicationFailure.nonRetryable(`${what} failed and no operator answered within ${hours} h: ${reason}`, 'OperatorTimeout');
    }
    if (d.kind === 'abort') {
      status.setOutcome('aborted');
      await told('abort');
      throw ApplicationFailure.nonRetryable(
        `aborted by an operator${d.request.reason ? ` (${d.request.reason})` : ''} while waiting after ${what} failed: ${reason}; ` +
          'the staged images were kept',
        'Aborted',
      );
    }
    progress.attempt += 1;
    status.setOutcome('running');
    void told('retry');
    return d.request;
  }
}
