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

/** The details this attempt heartbeated last, so that a keep-alive heartbeat repeats them instead of older ones. */
const lastDetails = new WeakMap<Context, Record<string, unknown>>();

export function heartbeat(details: Record<string, unknown>): void {
  let ctx: Context;
  try {
    ctx = Context.current();
  } catch {
    return; // outside an activity (unit use)
  }
  lastDetails.set(ctx, details);
  ctx.heartbeat(details);
}

/**
 * Heartbeats (with the last details) when `fn` starts and every 2 s while it runs, so that neither a long command nor
 * a run of short ones (a verification is a dozen commands of a second or two each on a loaded host) looks like a dead
 * worker. The SDK throttles what reaches the server, so a heartbeat per command costs nothing.
 */
export async function withHeartbeat<T>(fn: () => Promise<T>, details?: () => Record<string, unknown>): Promise<T> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return await fn();
  }
  const c = ctx;
  // Without details of its own yet, an attempt repeats the previous attempt's (a resume offset must survive it).
  const beat = (): void => c.heartbeat(details?.() ?? lastDetails.get(c) ?? c.info.heartbeatDetails);
  beat();
  const timer = setInterval(beat, 2000);
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
