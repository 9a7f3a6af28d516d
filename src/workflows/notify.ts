/**
 * The run tells people when it starts to wait for a person (an operator's retry or abort, the next cartridge) and when
 * the wait ends, through the worker's notification channels (src/activities/notify.ts, docs/notifications.md):
 *
 *   const end = tellPeople(status, { waitingFor: 'cartridge', stage: 'tape-write', reason, until, volume, volumesLeft });
 *   ... the wait ...
 *   void end('volume-loaded');            // or `await end(...)` when the run ends with the wait
 *
 * A notice never holds the wait up: it goes out beside it, with its own retries (NOTIFY_POLICY), and a notice that
 * could not be delivered is logged and forgotten, because the run must wait for its operator even when the webhook is
 * down. The `resumed` notice goes out after the `waiting` one has settled, so that a receiver never sees them in the
 * wrong order. Notices are not cancelled with the run: a cancel that ends a wait is news too.
 */
import { CancellationScope, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities, NoticeInput } from '../activities';
import type { StageName, WaitOutcome, WaitingFor } from '../shared/contract';
import { describeFailure } from '../shared/failures';
import { NOTIFY_POLICY } from '../shared/policies';
import { quote } from '../tape/shell';
import type { RunStatus } from './run-status';

/** A wait for a person, as the code that waits knows it. */
export interface WaitStart {
  waitingFor: WaitingFor;
  stage: StageName;
  /** Why the run waits, in words. */
  reason: string;
  /** When the wait ends by itself (ISO time). */
  until: string;
  record?: number;
  /** The cartridge waited for (1 = the first) and how many more the run may ask for after it. */
  volume?: number;
  volumesLeft?: number;
  /** The line that lets the run go on; default `mksysb-tape retry ID` (operator), `mksysb-tape volume-loaded ID` (cartridge). */
  cli?: string;
  /** The line that stops the run instead; default `mksysb-tape abort ID`. */
  abortCli?: string;
}

/** Ends a wait's notices: sends `resumed` with what ended it. Resolves once both notices settled; never rejects. */
export type EndWait = (outcome: WaitOutcome) => Promise<void>;

/** Notices still on their way, per run, for `noticesSettled`. */
const pending = new WeakMap<RunStatus, Set<Promise<void>>>();

/** Sends the `waiting` notice of a wait that starts now, without waiting for it; returns what sends `resumed`. */
export function tellPeople(status: RunStatus, wait: WaitStart): EndWait {
  const info = workflowInfo();
  const backup = status.plan?.backup;
  const id = quote(info.workflowId);
  const operator = wait.waitingFor === 'operator';
  // Every wait for a person may be ended with `abort`, the cartridge wait too.
  const abortCli = wait.abortCli ?? `mksysb-tape abort ${id}`;
  const notice: NoticeInput = {
    event: 'waiting',
    waitingFor: wait.waitingFor,
    backupId: status.progress.backupId,
    workflowId: info.workflowId,
    runId: info.runId,
    namespace: info.namespace,
    source: backup?.source ?? '',
    tapeHost: backup?.tape.host ?? '',
    drive: backup ? `${backup.tape.host}:${backup.tape.device}` : '',
    stage: wait.stage,
    ...(wait.record !== undefined ? { record: wait.record } : {}),
    ...(wait.volume !== undefined ? { volume: wait.volume } : {}),
    ...(wait.volumesLeft !== undefined ? { volumesLeft: wait.volumesLeft } : {}),
    reason: wait.reason,
    until: wait.until,
    cli: wait.cli ?? (operator ? `mksysb-tape retry ${id}` : `mksysb-tape volume-loaded ${id}`),
    ...(abortCli ? { abortCli } : {}),
  };
  const what = operator ? 'an operator' : `cartridge ${wait.volume ?? ''}`.trim();
  const started = track(status, send(notice, `tell people: ${notice.drive || notice.backupId} waits for ${what}`));
  let ended: Promise<void> | undefined;
  return (outcome) => {
    ended ??= track(
      status,
      started.then(() => send({ ...notice, event: 'resumed', outcome }, `tell people: ${notice.drive || notice.backupId} no longer waits for ${what} (${outcome})`)),
    );
    return ended;
  };
}

/**
 * Resolves once every notice of the run has been delivered or given up: for the end of a run, which would otherwise
 * drop a notice still on its way (a closed run's activities do not run).
 */
export async function noticesSettled(status: RunStatus): Promise<void> {
  await Promise.all([...(pending.get(status) ?? [])]);
}

function send(notice: NoticeInput, summary: string): Promise<void> {
  const { notifyPeople } = proxyActivities<Activities>({
    startToCloseTimeout: NOTIFY_POLICY.startToCloseTimeout,
    scheduleToCloseTimeout: NOTIFY_POLICY.scheduleToCloseTimeout,
    summary,
    retry: {
      maximumAttempts: NOTIFY_POLICY.maximumAttempts,
      initialInterval: NOTIFY_POLICY.initialInterval,
      backoffCoefficient: NOTIFY_POLICY.backoffCoefficient,
      maximumInterval: NOTIFY_POLICY.maximumInterval,
    },
  });
  return CancellationScope.nonCancellable(() => notifyPeople(notice)).then(
    () => undefined,
    (err: unknown) => {
      log.warn(`${summary}: given up (${describeFailure(err)}); the run goes on without it`);
    },
  );
}

function track(status: RunStatus, p: Promise<void>): Promise<void> {
  let set = pending.get(status);
  if (!set) pending.set(status, (set = new Set()));
  set.add(p);
  void p.then(() => set.delete(p));
  return p;
}
