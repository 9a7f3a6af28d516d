/**
 * mksysbToTape: a bootable mksysb tape of an AIX source host, written on another host's drive. It reads like the
 * manual procedure (AIX-TAPE.md), top to bottom:
 *
 *   1. on the source: bosboot -ad /dev/rmtN -b 1_bosboot.img; mkinsttape 2_mkinsttape.img; mksysb -i ... 4_mksysb.img
 *   2. move the three images to the tape host (the small ones while mksysb still runs), each checked by SHA-256
 *   3. on the tape host: chdev extfm=yes, block_size=512, rewinds; a blank-cartridge and capacity check
 *   4. write records 1..4, each positioned absolutely (rewind; fsf k-1); a failure at record k resumes at k
 *   5. verify: lsmksysb -V, and every record read back against its SHA-256
 *   6. remove the staging files, only once the tape is verified
 *
 * Every step is an activity with retries. When a step has used them up, the run waits for an operator's `retry`
 * (optionally from a given record) or `abort`, for `operatorWaitHours`, and says so in its details and progress.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  ActivityFailure,
  condition,
  isCancellation,

  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities, RunPlan, StagedImage, TransferOutcome, VerifyOutcome } from '../activities';
import {
  abortSignal,
  abortUpdate,
  progressQuery,
  retrySignal,
  retryUpdate,
  type AbortRequest,
  type BackupInput,
  type BackupProgress,
  type BackupResult,
  type RecordResult,
  type RetryRequest,
  type StageName,
  type TransferResult,
} from '../shared/contract';
import { DEFAULT_POLICIES, type Stage, type StagePolicy } from '../shared/policies';
import { SA_OUTCOME, SA_SOURCE, SA_STAGE, SA_TAPE_DEVICE, SA_TAPE_HOST } from '../shared/search-attributes';
import { RECORDS, blockSizeFor, type RecordNumber } from '../tape/layout';
import { FILEMARK_ALLOWANCE, recordTapeBytes } from '../tape/record-bytes';
import { withDriveLock } from './drive-lock';
import { formatBytes } from '../shared/format';


type Decision = { kind: 'retry'; request: RetryRequest } | { kind: 'abort'; request: AbortRequest };

/** Failure types where waiting for an operator cannot help: the run fails at once. */
const FAIL_AT_ONCE = ['InputValidationError', 'InventoryValidationError'];

export async function mksysbToTape(input: BackupInput): Promise<BackupResult> {
  const info = workflowInfo();
  const started = Date.now();
  const durations: Partial<Record<StageName, number>> = {};
  const progress: BackupProgress = {
    backupId: info.workflowId,
    stage: 'validating',
    outcome: 'running',
    attempt: 1,
    activity: 'validating the input against the inventory',
    recordsWritten: [],
  };
  let decision: Decision | undefined;
  let plan: RunPlan | undefined;
  /** Every move of an image to the tape host, in order: how (direct or relayed) and from where it resumed. */
  const transfers: TransferResult[] = [];

  // ---- operator interface -------------------------------------------------------------------------------------
  setHandler(progressQuery, () => progress);
  setHandler(retrySignal, (req) => {
    if (progress.waiting) decision = { kind: 'retry', request: req ?? {} };
  });
  setHandler(abortSignal, (req) => {
    if (progress.waiting) decision = { kind: 'abort', request: req ?? {} };
  });
  const notWaiting = (_req?: RetryRequest | AbortRequest) => {
    if (!progress.waiting) throw new Error(`the run is not waiting for an operator (stage ${progress.stage}, ${progress.outcome})`);
  };
  setHandler(
    retryUpdate,
    async (req) => {
      decision = { kind: 'retry', request: req ?? {} };
      await condition(() => progress.waiting === undefined);
      return `retrying ${progress.stage}`;
    },
    { validator: notWaiting },
  );
  setHandler(
    abortUpdate,
    async (req) => {
      decision = { kind: 'abort', request: req ?? {} };
      return `aborting: ${req?.reason ?? 'operator request'}`;
    },
    { validator: notWaiting },
  );

  const show = (stage: StageName, activity: string, extra: Partial<BackupProgress> = {}) => {
    if (progress.stage !== stage) {
      upsertSearchAttributes([{ key: SA_STAGE, value: stage }]);
    }
    Object.assign(progress, { stage, activity, bytesDone: undefined, bytesTotal: undefined, record: undefined }, extra);
    setCurrentDetails(details());
  };
  const details = () => {
    const lines = [`**${progress.outcome}** — ${progress.activity}`];
    if (plan) lines.push(`source ${plan.backup.source} → ${plan.backup.tape.host}:${plan.backup.tape.device}, backup ${plan.backup.backupId}`);
    if (transfers.length) lines.push(`images moved: ${transfers.map(transferText).join('; ')}`);
    if (progress.recordsWritten.length) lines.push(`records written: ${progress.recordsWritten.join(', ')}`);
    if (progress.waiting) {
      lines.push(
        `waiting for an operator until ${progress.waiting.until}: ${progress.waiting.reason}`,
        'send signal `retry` with {} (or {"fromRecord": N}) to try again, or `abort` with {"reason": "..."} to stop',
      );
    } else if (progress.lastError) lines.push(`last error: ${progress.lastError}`);
    return lines.join('\n\n');
  };
  const timed = async <T>(stage: StageName, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      durations[stage] = (durations[stage] ?? 0) + (Date.now() - t0) / 1000;
    }
  };

  /** Waits for retry/abort after a step used its retries; returns the retry request, throws on abort or time-out. */
  const askOperator = async (stage: StageName, err: unknown, record?: number): Promise<RetryRequest> => {
    const reason = describe(err);
    progress.lastError = reason;
    const type = failureType(err);
    if (type && FAIL_AT_ONCE.includes(type)) throw ApplicationFailure.nonRetryable(reason, type);
    const hours = plan?.backup.operatorWaitHours ?? 24;
    if (hours <= 0) throw ApplicationFailure.nonRetryable(`${stageText(stage, record)} failed: ${reason}`, type ?? 'StageFailed');
    const until = new Date(Date.now() + hours * 3600_000).toISOString();
    progress.waiting = { stage, record, reason, until };
    progress.outcome = 'waiting';
    upsertSearchAttributes([{ key: SA_OUTCOME, value: 'waiting' }]);
    show(stage, `waiting for an operator after ${stageText(stage, record)} failed`, { record });
    decision = undefined;
    const decided = await condition(() => decision !== undefined, hours * 3600_000);
    const d = decision as Decision | undefined;
    progress.waiting = undefined;
    decision = undefined;
    if (!decided || !d) {
      throw ApplicationFailure.nonRetryable(
        `${stageText(stage, record)} failed and no operator answered within ${hours} h: ${reason}`,
        'OperatorTimeout',
      );
    }
    if (d.kind === 'abort') {
      progress.outcome = 'aborted';
      upsertSearchAttributes([{ key: SA_OUTCOME, value: 'aborted' }]);
      throw ApplicationFailure.nonRetryable(
        `aborted by an operator${d.request.reason ? ` (${d.request.reason})` : ''} while waiting after ${stageText(stage, record)} failed: ${reason}; ` +
          'the staged images were kept',
        'Aborted',
      );
    }
    progress.outcome = 'running';
    progress.attempt += 1;
    upsertSearchAttributes([{ key: SA_OUTCOME, value: 'running' }]);
    return d.request;
  };

  /** Runs one step; when it has used its retries, asks the operator and runs it again on `retry`. */
  const step = async <T>(stage: StageName, fn: () => Promise<T>, record?: number): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        await askOperator(stage, err, record);
      }
    }
  };

  const acts = (stage: Stage, summary: string): Activities => {
    const p: StagePolicy = plan?.policies[stage] ?? DEFAULT_POLICIES[stage];
    const opts: ActivityOptions = {
      startToCloseTimeout: p.startToCloseTimeout,
      heartbeatTimeout: p.heartbeatTimeout,
      summary,
      // On cancellation the run waits for the activity to stop its remote command (mksysb, dd) before it ends.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      retry: {
        maximumAttempts: stage === 'validate' || stage === 'cleanup' ? p.maximumAttempts : plan?.backup.retry.maxAttempts ?? p.maximumAttempts,
        initialInterval: p.initialInterval,
        backoffCoefficient: p.backoffCoefficient,
        maximumInterval: p.maximumInterval,
        nonRetryableErrorTypes: plan?.nonRetryableTypes,
      },
    };
    return proxyActivities<Activities>(opts);
  };

  try {
    // ---- 0. validate ------------------------------------------------------------------------------------------
    plan = await timed('validating', () =>
      acts('validate', 'validate the input against the inventory').resolveBackup(input, info.workflowId),
    ).catch((err) => {
      throw ApplicationFailure.nonRetryable(describe(err), failureType(err) ?? 'InputValidationError');
    });
    const { backup } = plan;
    progress.backupId = backup.backupId;
    const drive = `${backup.tape.host}:${backup.tape.device}`;
    upsertSearchAttributes([
      { key: SA_SOURCE, value: backup.source },
      { key: SA_TAPE_HOST, value: backup.tape.host },
      { key: SA_TAPE_DEVICE, value: backup.tape.device },
      { key: SA_OUTCOME, value: 'running' },
    ]);

    // ---- 1 + 2. images on the source, moved to the tape host ----------------------------------------------------
    const staged: Partial<Record<1 | 2 | 4, StagedImage>> = {};
    let followed = null as Awaited<ReturnType<Activities['followImage']>> | null;
    const make = (record: 1 | 2 | 4, what: string) =>
      step(
        'images',
        () => acts('images', `${what} on ${backup.source}`).makeImage(plan!, record),
        record,
      ).then((img) => (staged[record] = img));
    const move = (img: StagedImage) =>
      step(
        'transfer',
        () =>
          acts('transfer', `move ${RECORDS[img.record - 1]!.name}, ${formatBytes(img.bytes)}, ${backup.source} → ${backup.tape.host}`)
            .transferImage(plan!, img),
        img.record,
      ).then((moved) => {
        transfers.push(transferResult(moved));
        setCurrentDetails(details());
        return moved;
      });

    await timed('images', async () => {
      show('images', `bosboot and mkinsttape on ${backup.source}`, { record: 1 });
      // bosboot depends on nothing the other two make: it runs beside mkinsttape and then mksysb. mkinsttape still
      // runs before mksysb, as in the procedure (record 2 archives /image.data, which `mksysb -i` rewrites).
      const boot = make(1, 'bosboot -ad ' + backup.bootDevice + ' -b 1_bosboot.img');
      boot.catch(() => undefined); // awaited below; this only keeps an abort during mkinsttape from going unhandled
      await make(2, 'mkinsttape 2_mkinsttape.img');
      show('images', `mksysb ${backup.mksysbFlags.join(' ')} on ${backup.source}; moving the boot and install images, and the mksysb image as it grows, meanwhile`, { record: 4 });
      // The small images move while mksysb runs.
      const small = timed('transfer', async () => {
        await boot;
        await move(staged[1]!);
        await move(staged[2]!);
      });
      // The mksysb image follows the file while mksysb writes it. Best effort: whatever goes wrong there, the image is
      // moved (resuming at what arrived) and checked the ordinary way below.
      const follow = acts('transfer', `follow the mksysb image as it grows, ${backup.source} → ${backup.tape.host}`)
        .followImage(plan!)
        .catch(() => null);
      // All three settle before the run goes on or fails: no unhandled rejection, and on cancellation mksysb is
      // stopped on the source before the run ends.
      [, , followed] = await settleAll([make(4, `mksysb ${backup.mksysbFlags.join(' ')} 4_mksysb.img`), small, follow] as const);
    });
    // Moved while it was made only if the tape host's copy has the source's size and SHA-256 (each host hashed its own).
    const mksysbThere = followed?.complete === true && followed.bytes === staged[4]!.bytes && followed.sha256 === staged[4]!.sha256;
    if (followed && (followed.rounds > 0 || followed.directFailed !== undefined)) {
      transfers.push({
        record: 4,
        mode: followed.mode,
        bytesSent: followed.bytesSent,
        resumedFrom: followed.resumedFrom,
        alreadyThere: false,
        followed: mksysbThere,
        ...(followed.directFailed !== undefined ? { directFailed: followed.directFailed } : {}),
      });
    }
    if (!mksysbThere) {
      show('transfer', `moving the mksysb image (${formatBytes(staged[4]!.bytes)}) to ${backup.tape.host}`, {
        record: 4,
        bytesTotal: staged[4]!.bytes,
      });
      await timed('transfer', () => move(staged[4]!));
    }
    const images = [staged[1]!, staged[2]!, staged[4]!];

    // ---- capacity ----------------------------------------------------------------------------------------------
    const bs4 = blockSizeFor(4, backup.record4BlockSize);
    const onTape = (k: RecordNumber) =>
      recordTapeBytes(k, k === 3 ? 0 : staged[k as 1 | 2 | 4]!.bytes, blockSizeFor(k, backup.record4BlockSize));
    const totalOnTape = ([1, 2, 3, 4] as RecordNumber[]).reduce((s, k) => s + onTape(k), 0) + FILEMARK_ALLOWANCE;
    if (plan.capacityBytes !== undefined && totalOnTape > plan.capacityBytes) {
      throw ApplicationFailure.nonRetryable(
        `the images need ${formatBytes(totalOnTape)} of tape but the cartridge in ${drive} holds ${formatBytes(plan.capacityBytes)}: ` +
          `${formatBytes(totalOnTape - plan.capacityBytes)} too much. Nothing was written; the staged images were kept`,
        'ImageTooLarge',
      );
    }

    // ---- 3 + 4 + 5. the tape ---------------------------------------------------------------------------------
    const writes: Record<number, number> = { 1: 0, 2: 0, 3: 0, 4: 0 };
    let generation = 0;
    let from: RecordNumber = 1;
    let wroteAny = false;
    let verification: VerifyOutcome | undefined;
    let verifyRounds = 0;
    // The drive is held, exclusively, from preparation through verification (see drive-lock.ts); images and
    // transfers above run without it.
    await withDriveLock(
      backup.tape,
      async () => {
        for (;;) {
          generation += 1;
          show('tape-prepare', `preparing ${drive}: extfm=yes, block size 512, rewind`);
          const checkBlank = !wroteAny;
          await timed('tape-prepare', () =>
            step('tape-prepare', () => acts('prepare', `prepare ${drive} (extfm, block size 512, rewind${checkBlank ? ', blank check' : ''})`).prepareTape(plan!, { checkBlank })),
          );
          let k: RecordNumber = from;
          await timed('tape-write', async () => {
            while (k <= 4) {
              const rec = RECORDS[k - 1]!;
              const bytes = onTape(k);
              show('tape-write', `writing record ${k}/4 (${rec.name}, ${formatBytes(bytes)}) to ${drive}`, { record: k, bytesTotal: bytes });
              try {
                await acts('write', `write record ${k}/4, ${rec.name}, ${formatBytes(bytes)}, to ${drive}`).writeRecord(
                  plan!,
                  k,
                  `${info.runId.slice(0, 8)}-g${generation}`,
                  k === 3 ? undefined : staged[k as 1 | 2 | 4],
                );
                wroteAny = true;
                writes[k] = (writes[k] ?? 0) + 1;
                progress.recordsWritten.push(k);
                k = (k + 1) as RecordNumber;
              } catch (err) {
                wroteAny = true;
                const req = await askOperator('tape-write', err, k);
                const again = req.fromRecord && req.fromRecord >= 1 && req.fromRecord <= k ? (req.fromRecord as RecordNumber) : k;
                k = again;
                generation += 1;
              }
            }
          });

          if (backup.verify === 'none') break;
          show('verify', backup.verify === 'full' ? `verifying ${drive}: lsmksysb -V and reading back records 1-4` : `verifying ${drive}: lsmksysb -V`);
          verification = await timed('verify', () =>
            step('verify', () => acts('verify', `verify ${drive}: lsmksysb -V${backup.verify === 'full' ? ', read back 4 records' : ''}`).verifyTape(plan!, images)),
          );
          const bad = verification.records.find((r) => !r.ok);
          const lsFailed = verification.lsmksysb === false;
          if (!bad && !lsFailed) break;
          verifyRounds += 1;
          const why = bad ? `record ${bad.record}: ${bad.detail ?? 'mismatch'}` : `lsmksysb -V failed: ${verification.lsmksysbDetail ?? ''}`;
          progress.lastError = `verification failed: ${why}`;
          // A staged copy that changed since it was moved is moved again before the rewrite.
          const firstBad: RecordNumber = bad ? bad.record : 4;
          let restaged = false;
          for (const img of images) {
            if (img.record < firstBad) continue;
            const ok = await step('transfer', () => acts('transfer', `check the staged ${RECORDS[img.record - 1]!.name}`).checkStagedImage(plan!, img));
            if (!ok) {
              await move(img);
              restaged = true;
            }
          }
          // A round whose cause was found and fixed (a staged copy moved again) does not count against the retries.
          if (restaged) verifyRounds -= 1;
          if (verifyRounds >= backup.retry.maxAttempts) {
            const req = await askOperator('verify', ApplicationFailure.nonRetryable(`verification failed: ${why}`, 'VerificationFailed'), firstBad);
            from = (req.fromRecord && req.fromRecord >= 1 && req.fromRecord <= 4 ? req.fromRecord : firstBad) as RecordNumber;
            verifyRounds = 0;
          } else {
            from = firstBad;
          }
        }
      },
      (holder) => show('tape-prepare', `waiting for ${drive}, in use by ${holder ?? 'another backup'}`),
    );

    // ---- 6. clean-up -------------------------------------------------------------------------------------------
    const verified =
      verification !== undefined && verification.lsmksysb !== false && (backup.verify !== 'full' || verification.records.every((r) => r.ok));
    const cleanup = !backup.keepStaging && backup.verify === 'full' && verified;
    if (cleanup) {
      show('cleanup', `removing the staging folders of ${backup.backupId}`);
      await timed('cleanup', () => step('cleanup', () => acts('cleanup', 'remove staging files').cleanupStaging(plan!)));
    }

    const records: RecordResult[] = ([1, 2, 3, 4] as RecordNumber[]).map((k) => {
      const check = verification?.records.find((r) => r.record === k);
      return {
        record: k,
        name: RECORDS[k - 1]!.name,
        bytes: onTape(k),
        blockSize: k === 4 ? bs4 : 512,
        sha256: check?.actual ?? (k === 3 ? '' : staged[k as 1 | 2 | 4]!.sha256),
        writes: writes[k] ?? 0,
      };
    });
    progress.outcome = 'succeeded';
    upsertSearchAttributes([{ key: SA_OUTCOME, value: 'succeeded' }]);
    show('done', `done in ${Math.round((Date.now() - started) / 1000)} s: tape in ${drive} verified${cleanup ? ', staging removed' : ''}`);
    return {
      backupId: backup.backupId,
      source: backup.source,
      tape: backup.tape,
      records,
      transfers,
      verification: {
        level: backup.verify,
        lsmksysb: verification?.lsmksysb ?? null,
        readBack: backup.verify === 'full' ? (verification?.records.every((r) => r.ok) ?? false) : null,
        details: [
          ...(verification?.lsmksysbDetail ? [`lsmksysb: ${verification.lsmksysbDetail}`] : []),
          ...(verification?.records ?? []).map((r) => `record ${r.record}: ${r.ok ? 'ok' : r.detail} ${r.actual ?? ''}`.trim()),
        ],
      },
      durations,
      stagingKept: !cleanup,
    };
  } catch (err) {
    if (isCancellation(err)) {
      progress.outcome = 'aborted';
      upsertSearchAttributes([{ key: SA_OUTCOME, value: 'aborted' }]);
    } else if (progress.outcome !== 'aborted') {
      progress.outcome = 'failed';
      upsertSearchAttributes([{ key: SA_OUTCOME, value: 'failed' }]);
    }
    progress.lastError = describe(err);
    setCurrentDetails(details());
    throw err;
  }
}

/** What the result says of one move (the outcome without its byte total, which the records carry). */
function transferResult(o: TransferOutcome): TransferResult {
  return {
    record: o.record,
    mode: o.mode,
    bytesSent: o.bytesSent,
    resumedFrom: o.resumedFrom,
    alreadyThere: o.alreadyThere,
    ...(o.directFailed !== undefined ? { directFailed: o.directFailed } : {}),
  };
}

/** One move in the current details: `mksysb image pulled by the tape host (resumed at 10.0 MiB)`, `boot image relayed (...)`. */
function transferText(t: TransferResult): string {
  const how = t.mode === 'direct' ? 'pulled by the tape host' : 'relayed';
  const notes = [
    t.followed ? 'while mksysb wrote it' : '',
    t.alreadyThere ? 'already there' : '',
    t.resumedFrom > 0 && !t.alreadyThere ? `resumed at ${formatBytes(t.resumedFrom)}` : '',
    t.directFailed !== undefined ? `direct pull failed: ${t.directFailed}` : '',
  ].filter(Boolean);
  return `${RECORDS[t.record - 1]!.name} ${how}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

/** Like Promise.all, but waits for every promise to settle, then throws the first failure. */
async function settleAll<T extends readonly unknown[]>(ps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

function stageText(stage: StageName, record?: number): string {
  const names: Record<StageName, string> = {
    validating: 'validation',
    images: 'making the images',
    transfer: 'moving the images',
    'tape-prepare': 'preparing the drive',
    'tape-write': 'the tape write',
    verify: 'verification',
    cleanup: 'clean-up',
    done: 'the run',
  };
  return record ? `${names[stage]} (record ${record})` : names[stage];
}

/** The innermost message of a failure chain, with the activity's name when there is one. */
function describe(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  const msg = e instanceof Error ? e.message : String(e);
  return msg;
}

function failureType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof ApplicationFailure ? (e.type ?? undefined) : undefined;
}
