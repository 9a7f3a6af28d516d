/**
 * mksysbToTape: a bootable mksysb tape of an AIX source host, written on another host's drive. It reads like the
 * manual procedure (AIX-TAPE.md), top to bottom:
 *
 *   1. on the source: bosboot -ad /dev/rmtN -b 1_bosboot.img; mkinsttape 2_mkinsttape.img; mksysb -i ... 4_mksysb.img
 *   2. move the three images to the tape host (the small ones while mksysb still runs), each checked by SHA-256
 *   3. on the tape host: chdev extfm=yes, block_size=512, rewinds; a blank-cartridge and capacity check
 *   4. write records 1..4, each positioned absolutely (rewind; fsf k-1); a failure at record k resumes at k; with
 *      `maxVolumes` above 1, record 4 goes on over further cartridges, changed by a person or an autoloader
 *   5. verify: lsmksysb -V, and every record read back against its SHA-256
 *   6. remove the staging files, only once the tape is verified
 *
 * Every step is an activity with retries. When a step has used them up, the run waits for an operator's `retry`
 * (optionally from a given record) or `abort`, for `operatorWaitHours`, and says so in its details and progress
 * (operator.ts). A cancel request stops the running step's remote commands and ends the run Canceled, with outcome
 * `cancelled`, from any stage and without asking the operator (cancellation.ts). What the run shows of itself is in
 * run-status.ts, the tape phase in tape-phase.ts.
 */
import { ApplicationFailure, CancelledFailure, workflowInfo } from '@temporalio/workflow';
import type { BackupInput, BackupResult } from '../shared/contract';
import { failureMessage, failureType } from '../shared/failures';
import { planTape, type TapePlan } from '../tape/layout';
import { backupResult, tapeVerified } from './backup-result';
import { CartridgeDesk } from './cartridges';
import { asCancellation, runCancelled } from './cancellation';
import { withDriveLock } from './drive-lock';
import { Operator } from './operator';
import { RunStatus } from './run-status';
import { stageActivities } from './stage-activities';
import { StagedImages, settleAll } from './staged-images';
import { TapePhase, assertCartridgeHolds } from './tape-phase';
import { TapeWhileMksysb } from './tape-while-mksysb';

export async function mksysbToTape(input: BackupInput): Promise<BackupResult> {
  const info = workflowInfo();
  const started = Date.now();
  const status = new RunStatus(info.workflowId);
  const operator = new Operator(status);
  const desk = new CartridgeDesk(status, operator);

  try {
    // ---- 0. validate ------------------------------------------------------------------------------------------
    const plan = await status
      .timed('validating', () => stageActivities(undefined, 'validating', 'validate the input against the inventory').resolveBackup(input, info.workflowId))
      .catch((err) => {
        if (runCancelled(err)) throw err;
        throw ApplicationFailure.nonRetryable(failureMessage(err), failureType(err) ?? 'InputValidationError');
      });
    status.validated(plan);
    // The validation reads the inventory and does not heartbeat: a cancel that came while it ran takes effect here,
    // before anything runs on the hosts.
    if (runCancelled()) throw new CancelledFailure('cancelled during validation');
    const { backup } = plan;
    const drive = `${backup.tape.host}:${backup.tape.device}`;
    const mksysb = `mksysb ${backup.mksysbFlags.join(' ')}`;

    // ---- 1 + 2. images on the source, moved to the tape host ----------------------------------------------------
    const images = new StagedImages(plan, status, operator);
    const tapeEarly = backup.writeWhileMksysb ? new TapeWhileMksysb(plan, images, status, info.runId) : undefined;
    const onDriveWait = (holder: string | undefined) => status.show('tape-prepare', `waiting for ${drive}, in use by ${holder ?? 'another backup'}`);
    /**
     * The tape phase once the staged images are complete: the plan of the cartridge, its capacity check (not for a
     * cartridge that already took the whole stream), the phase.
     */
    const tapePhaseFor = (wroteEarly: boolean, check = true): { tape: TapePlan; written: TapePhase } => {
      const tape = planTape(images.sizes(), backup.record4BlockSize, plan.stagingTape);
      if (check) assertCartridgeHolds(tape, plan, wroteEarly);
      return { tape, written: new TapePhase(plan, tape, images, status, operator, desk, info.runId) };
    };
    // writeWhileMksysb: the drive is taken once records 1 and 2 are staged; the tape phase runs on in that hold when
    // the early writes left records on the cartridge (tape-while-mksysb.ts), else the run goes on as without it.
    let early: Promise<{ tape: TapePlan; written: TapePhase } | undefined> = Promise.resolve(undefined);
    const followed = await status.timed('images', async () => {
      status.show('images', `bosboot and mkinsttape on ${backup.source}`, { record: 1 });
      // bosboot depends on nothing the other two make: it runs beside mkinsttape and then mksysb. mkinsttape still
      // runs before mksysb, as in the procedure (record 2 archives /image.data, which `mksysb -i` rewrites).
      const boot = images.make(1, `bosboot -ad ${backup.bootDevice} -b 1_bosboot.img`);
      boot.catch(() => undefined); // awaited below; this only keeps an abort during mkinsttape from going unhandled
      // When mkinsttape ends the run (a cancel, an abort), bosboot settles first: a run that ends leaves nothing running.
      await images.make(2, 'mkinsttape 2_mkinsttape.img').catch(async (err: unknown) => {
        await boot.catch(() => undefined);
        throw err;
      });
      status.show('images', `${mksysb} on ${backup.source}; moving the boot and install images, and the mksysb image as it grows, meanwhile`, { record: 4 });
      // The small images move while mksysb runs, and the mksysb image follows the file while mksysb writes it.
      const small = status.timed('transfer', async () => {
        await boot;
        await images.move(images.image(1));
        await images.move(images.image(2));
      });
      const follow = images.follow(tapeEarly?.generation);
      const image4 = images.make(4, `${mksysb} 4_mksysb.img`);
      if (tapeEarly) early = tapeEarly.start(small, follow, image4, (check) => tapePhaseFor(true, check), onDriveWait);
      // All three settle before the run goes on or fails: no unhandled rejection, and on cancellation mksysb is
      // stopped on the source before the run ends.
      const [, , following] = await settleAll([image4, small, follow] as const);
      return following;
    }).catch(async (err: unknown) => {
      await early.catch(() => undefined);
      throw err;
    });

    // ---- 3 + 4 + 5. the tape: prepare, write records 1..4, verify ------------------------------------------------
    // The drive is held, exclusively, from preparation through verification (see drive-lock.ts); images and
    // transfers above run without it (unless writeWhileMksysb).
    let { tape, written } = (await early) ?? {};
    if (!tape || !written) {
      await images.finishMksysb(followed);
      ({ tape, written } = tapePhaseFor((tapeEarly?.result.earlyRecords.length ?? 0) > 0));
      await withDriveLock(backup.tape, () => written!.writeAndVerify(), onDriveWait);
    }

    // ---- 6. clean-up -------------------------------------------------------------------------------------------
    const cleanup = !backup.keepStaging && backup.verify === 'full' && tapeVerified(plan, written.verification);
    if (cleanup) {
      status.show('cleanup', `removing the staging folders of ${backup.backupId}`);
      await status.timed('cleanup', () =>
        operator.withOperatorRetry('cleanup', () => stageActivities(plan, 'cleanup', 'remove staging files').cleanupStaging(plan)),
      );
    }

    const result = backupResult(plan, tape, images, written, status, !cleanup);
    if (tapeEarly) result.stream = tapeEarly.result;
    status.setOutcome('succeeded');
    status.show('done', `done in ${Math.round((Date.now() - started) / 1000)} s: tape in ${drive} verified${cleanup ? ', staging removed' : ''}`);
    return result;
  } catch (err) {
    if (runCancelled(err)) {
      status.cancelled();
      throw asCancellation(err);
    }
    if (status.progress.outcome !== 'aborted') status.setOutcome('failed');
    status.progress.lastError = failureMessage(err);
    status.refresh();
    throw err;
  }
}
