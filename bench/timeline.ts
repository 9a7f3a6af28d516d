/**
 * Where a run's time went, from its history: each activity's schedule, start and close against a common start
 * (`t0`), so that the first seconds of a fleet can be read child by child (which step waited, and for what).
 *
 *   import { activityTimeline, formatTimeline } from './timeline'
 */
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';

export interface ActivitySpan {
  /** The activity type, with the record it was for when its first argument's second one names one. */
  name: string;
  /** Seconds from t0: scheduled, started (a worker took it), closed. */
  scheduled: number;
  started?: number;
  closed?: number;
}

type Ts = temporal.api.history.v1.IHistoryEvent['eventTime'];
const ms = (t: Ts): number => Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

/** The activities of one workflow run, in the order they were scheduled. */
export async function activityTimeline(client: Client, workflowId: string, t0: number): Promise<ActivitySpan[]> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const byId = new Map<number, ActivitySpan>();
  const spans: ActivitySpan[] = [];
  const at = (e: temporal.api.history.v1.IHistoryEvent) => Math.round((ms(e.eventTime) - t0) / 100) / 10;
  for (const e of history.events ?? []) {
    if (e.workflowExecutionStartedEventAttributes) spans.push({ name: 'workflow started', scheduled: at(e) });
    const signal = e.workflowExecutionSignaledEventAttributes;
    if (signal) spans.push({ name: `signal ${signal.signalName ?? '?'}`, scheduled: at(e) });
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const record = recordOf(s.input?.payloads);
      const span: ActivitySpan = { name: `${s.activityType?.name ?? '?'}${record !== undefined ? `(${record})` : ''}`, scheduled: at(e) };
      byId.set(Number(e.eventId), span);
      spans.push(span);
      continue;
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const span = byId.get(Number(started.scheduledEventId));
      if (span) span.started = at(e);
      continue;
    }
    const closed =
      e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
    if (closed) {
      const span = byId.get(Number(closed.scheduledEventId));
      if (span) span.closed = at(e);
    }
  }
  return spans;
}

/** The record an activity was for: its second argument when that is a record number or an image with one. */
function recordOf(payloads: temporal.api.common.v1.IPayload[] | null | undefined): number | undefined {
  const second = payloads?.[1];
  if (!second) return undefined;
  try {
    const v = defaultPayloadConverter.fromPayload<unknown>(second);
    if (typeof v === 'number') return v;
    if (v && typeof v === 'object' && typeof (v as { record?: unknown }).record === 'number') return (v as { record: number }).record;
  } catch {
    // not JSON: no record to show
  }
  return undefined;
}

const sec = (t: number | undefined): string => (t === undefined ? '-' : t.toFixed(1)).padStart(6);

/** One line per activity: `name  scheduled → started → closed` (seconds from t0), with the wait for a worker when it is not nothing. */
export function formatTimeline(title: string, spans: ActivitySpan[]): string {
  const lines = spans.map((s) => {
    const wait = s.started !== undefined && s.started - s.scheduled >= 0.2 ? ` (waited ${(s.started - s.scheduled).toFixed(1)} s for a worker)` : '';
    // Events that are not activities (the start, a signal) have one time only.
    const rest = s.started === undefined && s.closed === undefined ? '' : ` → ${sec(s.started)} → ${sec(s.closed)}`;
    return `  ${s.name.padEnd(22)} ${sec(s.scheduled)}${rest}${wait}`;
  });
  return [title, ...lines].join('\n');
}
