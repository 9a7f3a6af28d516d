/**
 * The activity's context as the helpers need it: its cancellation, heartbeats and log, each a no-op outside an
 * activity, so the same helpers run in unit tests and scripts.
 */
import { Context, log } from '@temporalio/activity';

export function cancellationSignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

export function heartbeat(details: Record<string, unknown>): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    /* outside an activity (unit use) */
  }
}

/** Keeps heartbeating (with the last details) while `fn` runs, so a long command does not look like a dead worker. */
export async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => Record<string, unknown>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return await fn();
  }
  const c = ctx;
  const timer = setInterval(() => c.heartbeat(details?.() ?? c.info.heartbeatDetails), 2000);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/** True when the workflow asked for the cancellation (a worker shutdown cancels too, and must leave commands running). */
export function cancelRequested(): boolean {
  return Context.current().cancellationDetails?.cancelRequested === true;
}

export function warn(message: string): void {
  try {
    log.warn(message);
  } catch {
    /* outside an activity */
  }
}

/** Waits `ms`; rejects at once when `signal` fires (the activity was cancelled). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('cancelled'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new Error('cancelled'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
