/**
 * Changing cartridges in a backup that spans several: the full one is ejected, and the next one is loaded by the
 * drive's sequential autoloader (waited for, bounded) or by a person, whom the run waits for (for the backup's
 * `operatorWaitHours`) with the signal `volumeLoaded` or the update `volumeLoadedNow`, refused unless the run waits
 * for a cartridge. A loaded cartridge is looked at before it is written: one that is not loaded, or holds data that is
 * not this backup's own volume (unless `overwrite`), is ejected again and the wait goes on, saying why.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import type { RunPlan } from '../activities';
import { volumeLoadedSignal, volumeLoadedUpdate, type VolumeLoadedRequest } from '../shared/contract';
import { runCancelled } from './cancellation';
import { tellPeople } from './notify';
import type { Operator } from './operator';
import type { RunStatus } from './run-status';
import { stageActivities } from './stage-activities';

/** How long a sequential autoloader may take to make the next cartridge ready before a person is asked (default). */
const AUTOLOADER_SECONDS = 600;

export class CartridgeDesk {
  private loaded: VolumeLoadedRequest | undefined;

  /** Installs the signal and update handlers; call before the run's first await. */
  constructor(
    private readonly status: RunStatus,
    private readonly operator: Operator,
  ) {
    setHandler(volumeLoadedSignal, (req) => {
      if (this.refusal(req) === undefined) this.loaded = req ?? {};
    });
    setHandler(
      volumeLoadedUpdate,
      async (req) => {
        this.loaded = req ?? {};
        await condition(() => this.status.progress.waiting?.for !== 'cartridge');
        return `cartridge taken for volume ${req?.volume ?? this.status.progress.volume ?? '?'}`;
      },
      {
        validator: (req) => {
          const why = this.refusal(req);
          if (why) throw new Error(why);
        },
      },
    );
  }

  private refusal(req: VolumeLoadedRequest | undefined): string | undefined {
    const w = this.status.progress.waiting;
    if (w?.for !== 'cartridge') return `the run is not waiting for a cartridge (stage ${this.status.progress.stage}, ${this.status.progress.outcome})`;
    if (req?.volume !== undefined && req.volume !== w.volume) return `the run waits for the cartridge of volume ${w.volume}, not of volume ${req.volume}`;
    return undefined;
  }

  /**
   * Ejects the cartridge in the drive and returns once the cartridge for `volume` is loaded and may be written:
   * blank, this backup's own volume of an earlier attempt, or anything with `overwrite`.
   */
  async change(plan: RunPlan, volume: number, volumesLeft: number): Promise<void> {
    const drive = `${plan.backup.tape.host}:${plan.backup.tape.device}`;
    await this.eject(plan, drive, volume);
    let why = `load the cartridge for volume ${volume} into ${drive}${volumesLeft > 0 ? ` (${volumesLeft} more to come after it)` : ' (the last one)'}`;
    let autoloader = plan.autoloader === 'sequential';
    const seconds = plan.autoloaderWaitSeconds ?? AUTOLOADER_SECONDS;
    for (;;) {
      if (autoloader) {
        autoloader = false;
        this.status.show('tape-write', `waiting for the autoloader of ${drive} to load the cartridge for volume ${volume}`, { record: 4, volume });
        const ready = await this.operator.withOperatorRetry('tape-write', () =>
          stageActivities(plan, 'tape-write', `wait for the autoloader of ${drive}`).awaitCartridge(plan, seconds),
        );
        if (!ready) why = `the autoloader of ${drive} loaded no cartridge within ${seconds} s: ${why}`;
        else why = '';
      }
      if (why) await this.waitForPerson(plan, volume, volumesLeft, why);
      const look = await this.operator.withOperatorRetry('tape-prepare', () =>
        stageActivities(plan, 'tape-prepare', `look at the cartridge for volume ${volume} in ${drive}`).inspectCartridge(plan, volume),
      );
      if (!look.loaded) {
        why = `no cartridge is loaded in ${drive} (${look.detail}): load the cartridge for volume ${volume}`;
        continue;
      }
      if (!look.hasData || look.ownVolume || plan.backup.overwrite) return;
      await this.eject(plan, drive, volume);
      why =
        `the cartridge loaded into ${drive} already holds data (${look.detail}) and was ejected: ` +
        `load a blank or scratch cartridge for volume ${volume}, or start the backup with "overwrite": true`;
    }
  }

  private async eject(plan: RunPlan, drive: string, volume: number): Promise<void> {
    this.status.show('tape-write', `ejecting the cartridge in ${drive} for volume ${volume}`, { record: 4, volume });
    await this.operator.withOperatorRetry('tape-write', () => stageActivities(plan, 'tape-write', `eject the cartridge in ${drive}`).ejectCartridge(plan));
  }

  /** Waits for `volumeLoaded` (or an operator's abort); fails when nobody answers within the backup's wait. */
  private async waitForPerson(plan: RunPlan, volume: number, volumesLeft: number, reason: string): Promise<void> {
    const { status } = this;
    const hours = plan.backup.operatorWaitHours;
    const until = new Date(Date.now() + hours * 3600_000).toISOString();
    status.progress.waiting = { stage: 'tape-write', for: 'cartridge', volume, volumesLeft, reason, until };
    status.setOutcome('waiting');
    status.show('tape-write', `waiting for the cartridge of volume ${volume}: ${reason}`, { record: 4, volume });
    const told = tellPeople(status, { waitingFor: 'cartridge', stage: 'tape-write', record: 4, reason, until, volume, volumesLeft });
    this.loaded = undefined;
    let answered: boolean;
    try {
      answered = hours > 0 && (await condition(() => this.loaded !== undefined || this.operator.abortPending(), hours * 3600_000));
    } catch (err) {
      if (runCancelled(err)) await told('cancelled');
      throw err;
    }
    status.progress.waiting = undefined;
    const abort = this.operator.takeAbort();
    if (abort) {
      status.setOutcome('aborted');
      await told('abort');
      throw ApplicationFailure.nonRetryable(
        `aborted by an operator${abort.reason ? ` (${abort.reason})` : ''} while the run waited for the cartridge of volume ${volume}; ` +
          'the staged images and the volumes written so far were kept',
        'Aborted',
      );
    }
    if (!answered) {
      await told('timeout');
      throw ApplicationFailure.nonRetryable(`no cartridge was loaded for volume ${volume} within ${hours} h: ${reason}`, 'OperatorTimeout');
    }
    this.loaded = undefined;
    status.setOutcome('running');
    void told('volume-loaded');
  }
}
