/**
 * Errors of the client API. Each says what went wrong and what to do about it; the CLI maps them to exit codes.
 */
import { isGrpcServiceError } from '@temporalio/client';
import { describeFailure } from '../shared/failures';

/** A second start of a backup whose workflow ID is running or already succeeded. */
export class BackupAlreadyStartedError extends Error {
  override readonly name = 'BackupAlreadyStartedError';
  constructor(
    readonly workflowId: string,
    /** `RUNNING`, `COMPLETED`, ... when known. */
    readonly existingStatus: string | undefined,
    readonly existingRunId: string | undefined,
  ) {
    super(
      existingStatus === 'RUNNING'
        ? `backup ${workflowId} is already running (run ${existingRunId ?? '?'}); watch it with \`mksysb-tape watch ${workflowId}\`, ` +
            'or give another --workflow-id to start a separate backup'
        : existingStatus === 'COMPLETED'
          ? `backup ${workflowId} already succeeded; it is not written twice. Give another --workflow-id to make a new tape`
          : `a backup with workflow ID ${workflowId} exists${existingStatus ? ` (${existingStatus})` : ''} and may not be started again; ` +
            'give another --workflow-id',
    );
  }
}

/** Temporal cannot be reached (address, TLS, API key, or the server is down). */
export class TemporalUnreachableError extends Error {
  override readonly name = 'TemporalUnreachableError';
  constructor(
    readonly address: string,
    readonly detail: string,
  ) {
    super(
      `cannot reach Temporal at ${address}: ${detail}. Check TEMPORAL_ADDRESS / TEMPORAL_PROFILE (or --address), ` +
        'TLS and API key settings, and that the server is up (`npm run dev` starts one locally)',
    );
  }
}

/** No run with this workflow ID in the namespace. */
export class BackupNotFoundError extends Error {
  override readonly name = 'BackupNotFoundError';
  constructor(
    readonly workflowId: string,
    namespace: string,
  ) {
    super(`no backup with workflow ID ${workflowId} in namespace ${namespace}; list them with \`mksysb-tape list\``);
  }
}

/** `retry`/`abort` sent to a run that is not waiting for an operator, or that has finished. */
export class OperatorRequestRejectedError extends Error {
  override readonly name = 'OperatorRequestRejectedError';
  constructor(
    readonly workflowId: string,
    readonly request: 'retry' | 'abort' | 'volume-loaded',
    readonly reason: string,
  ) {
    super(`${request} of ${workflowId} was refused: ${reason}`);
  }
}

/** A schedule with this ID does not exist, or already exists. */
export class ScheduleError extends Error {
  override readonly name = 'ScheduleError';
}

/** The message of an error and of its causes (the cause-chain walk the workflows use too). */
export { describeFailure };

function isUnavailable(err: unknown): boolean {
  if (err instanceof TemporalUnreachableError) return true;
  if (isGrpcServiceError(err)) return err.code === 14; // UNAVAILABLE
  const m = err instanceof Error ? err.message : '';
  return /ECONNREFUSED|UNAVAILABLE|Failed to connect|connect ETIMEDOUT|deadline/i.test(m);
}

/**
 * What a failed call to Temporal throws: TemporalUnreachableError when the server could not be reached (so the CLI
 * exits 3 and says what to check), else the error itself.
 */
export function unreachableOr(address: string, err: unknown): unknown {
  return isUnavailable(err) ? new TemporalUnreachableError(address, describeFailure(err)) : err;
}

/** A fleet run that does not exist, is no fleet, or was already started; a fleet schedule the server refused. */
export class FleetError extends Error {
  override readonly name = 'FleetError';
}

/** A search attribute of the project the namespace lacks (`registeredAs` unset) or has with another type. */
export interface SearchAttributeProblem {
  name: string;
  /** The type it must have, as the Temporal CLI names it (`Keyword`). */
  type: string;
  registeredAs?: string;
}

/**
 * The namespace lacks search attributes the workflows set (src/shared/search-attributes.ts): the worker refuses to
 * start (or registers them, MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES=1), and the server refuses a backup's start.
 */
export class SearchAttributesMissingError extends Error {
  override readonly name = 'SearchAttributesMissingError';
  /** Names the namespace does not have at all. */
  readonly missing: string[];
  /** The `temporal operator search-attribute create` line that registers the missing ones, if any are missing. */
  readonly createCommand?: string;

  constructor(
    readonly namespace: string,
    readonly problems: SearchAttributeProblem[],
    opts: { registerFailed?: string } = {},
  ) {
    const missing = problems.filter((p) => !p.registeredAs);
    const wrong = problems.filter((p) => p.registeredAs);
    const createCommand = missing.length
      ? `temporal operator search-attribute create --namespace ${namespace} ${missing.map((p) => `--name ${p.name} --type ${p.type}`).join(' ')}`
      : undefined;
    const lines: string[] = [];
    if (missing.length) {
      lines.push(
        `namespace ${namespace} lacks the search attributes ${missing.map((p) => `${p.name} (${p.type})`).join(', ')} that mksysb-tape's workflows set` +
          (opts.registerFailed ? `; registering them failed: ${opts.registerFailed}` : '') +
          '. Register them once:',
        `  ${createCommand}`,
      );
    }
    for (const p of wrong) {
      lines.push(
        `search attribute ${p.name} of namespace ${namespace} is registered as ${p.registeredAs}, mksysb-tape needs ${p.type}: remove it ` +
          `(temporal operator search-attribute remove --namespace ${namespace} --name ${p.name}) and create it again with --type ${p.type}`,
      );
    }
    if (missing.length && !opts.registerFailed) lines.push('(or start the worker with MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES=1, which registers them itself)');
    super(lines.join('\n'));
    this.missing = missing.map((p) => p.name);
    this.createCommand = createCommand;
  }
}

/** The attribute a refused start names ("Namespace default has no mapping defined for search attribute X"), if any. */
export function unregisteredAttributeOf(err: unknown): string | undefined {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    const m = /no mapping defined for search attribute (\S+)/.exec(e instanceof Error ? e.message : '');
    if (m) return m[1];
  }
  return undefined;
}
