/**
 * What becomes of a failed remote command: SSH errors and exit statuses mapped to Temporal failures whose type the
 * workflow's retry policies know, retryable or not.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { isSshError, NON_RETRYABLE_SSH_ERROR_TYPES, type ExecResult } from '../ssh';

/** Failure types retrying cannot fix; the workflow's retry policies list them as non-retryable. */
export const NON_RETRYABLE_TYPES: readonly string[] = [
  ...NON_RETRYABLE_SSH_ERROR_TYPES,
  'InputValidationError',
  'InventoryValidationError',
  'UnknownHost',
  'CommandNotFound',
  'DeviceAbsent',
  'ImageTooLarge',
  'TapeNotBlank',
  'StagingFolderFull',
  'ShellValueError',
];

/** Exit statuses a check reports instead of failing on (its output says what went wrong). */
export const ANY_FAILURE: readonly number[] = Array.from({ length: 255 }, (_, i) => i + 1);

/** SSH errors that retrying cannot fix become non-retryable failures with the same type name. */
export async function mapSshErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isSshError(err)) {
      const type = (err.constructor as { errorType?: string }).errorType ?? err.name;
      if (NON_RETRYABLE_SSH_ERROR_TYPES.includes(type)) throw ApplicationFailure.nonRetryable(err.message, type);
      throw ApplicationFailure.retryable(err.message, type);
    }
    if ((err as Error)?.name === 'ShellValueError') throw ApplicationFailure.nonRetryable((err as Error).message, 'ShellValueError');
    throw err;
  }
}

/** The failure for a command that exited non-zero: missing commands are non-retryable, the rest retryable. */
export function commandFailure(hostName: string, what: string, res: Pick<ExecResult, 'code' | 'stdout' | 'stderr'> & { signal?: string }): ApplicationFailure {
  const msg = lastLines(res.stderr || res.stdout, 4);
  const status = res.code === null ? `signal ${res.signal ?? '?'}` : `exit status ${res.code}`;
  const text = `${what} on ${hostName} failed (${status})${msg ? `: ${msg}` : ''}`;
  if (res.code === 127) {
    return ApplicationFailure.nonRetryable(text, 'CommandNotFound');
  }
  if (/(No such device|does not exist|0514-519|not defined in the device configuration)/i.test(msg) && /\/dev\/|rmt|nst|st\d/.test(msg)) {
    return ApplicationFailure.nonRetryable(text, 'DeviceAbsent');
  }
  return ApplicationFailure.retryable(text, 'CommandFailed');
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').filter(Boolean).slice(-n).join(' | ').slice(0, 600);
}
