/**
 * Telling people that a run waits for them (an operator's retry or abort, the next cartridge) and that it waits no
 * more: a webhook (JSON POST) and/or a local command (`mail`, a paging tool) on the worker host, as the worker's
 * configuration names them (MKSYSB_TAPE_NOTIFY_*, temporal.config.ts). A channel that fails fails the attempt
 * retryably, and Temporal retries it (NOTIFY_POLICY); the channels an earlier attempt reached are not sent to again.
 */
import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { WaitNotice } from '../shared/contract';
import { cancellationSignal, heartbeat } from './context';

export interface NotifyConfig {
  /** URL the notice is POSTed to as JSON. MKSYSB_TAPE_NOTIFY_WEBHOOK. */
  webhook?: string;
  /** Extra request headers of the webhook (an Authorization header): never in the payload, a log or an error. */
  headers?: Record<string, string>;
  /** Command line run by `/bin/sh -c` on the worker host, the notice's JSON on its stdin. MKSYSB_TAPE_NOTIFY_COMMAND. */
  command?: string;
  /** Base URL of the Temporal Web UI, for the notice's link to the run. MKSYSB_TAPE_UI_URL. */
  uiUrl: string;
  /** Milliseconds a webhook request may take (default 10 000). */
  webhookTimeoutMs?: number;
  /** Milliseconds the command may run before it is killed (default 30 000). */
  commandTimeoutMs?: number;
}

/** A notice as the workflow knows it: everything but the link to the Web UI, which is the worker's to know. */
export type NoticeInput = Omit<WaitNotice, 'uiUrl'>;

export type NotifyChannel = 'webhook' | 'command';

export interface NotifyResult {
  /** Channels the notice reached (in this attempt or an earlier one). */
  sent: NotifyChannel[];
  /** Set when the worker has no channel configured: nothing was sent. */
  note?: string;
}

/** Link to a run in the Web UI (the UI's own form of it: the workflow ID URI-encoded as one path segment). */
export function runUiUrl(base: string, namespace: string, workflowId: string, runId: string): string {
  return `${base.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}/${encodeURIComponent(runId)}`;
}

/** The notice in words, for a mail subject and body or a pager line. */
export function noticeText(n: WaitNotice): { subject: string; text: string } {
  const what = n.waitingFor === 'operator' ? 'an operator' : `cartridge ${n.volume ?? 'next'} in ${n.drive}`;
  const subject =
    n.event === 'waiting'
      ? `mksysb-tape: ${n.backupId} (${n.source} to ${n.drive}) waits for ${what}`
      : `mksysb-tape: ${n.backupId} (${n.source} to ${n.drive}) no longer waits for ${what}: ${n.outcome ?? 'resumed'}`;
  const lines = [subject, '', `reason: ${n.reason}`, `stage: ${n.stage}${n.record ? `, record ${n.record}` : ''}`];
  if (n.waitingFor === 'cartridge' && n.volumesLeft !== undefined) lines.push(`cartridges it may still ask for after this one: ${n.volumesLeft}`);
  if (n.event === 'waiting') {
    lines.push(`waits until: ${n.until}`, `answer with: ${n.cli}`);
    if (n.abortCli) lines.push(`or stop it with: ${n.abortCli}`);
  }
  lines.push(`run: ${n.uiUrl}`);
  return { subject, text: lines.join('\n') + '\n' };
}

/** The variables a command gets besides the JSON on its stdin, for scripts that do not parse JSON. */
export function noticeEnv(n: WaitNotice): Record<string, string> {
  const { subject, text } = noticeText(n);
  const vars: Record<string, string | number | undefined> = {
    EVENT: n.event,
    WAITING_FOR: n.waitingFor,
    BACKUP_ID: n.backupId,
    WORKFLOW_ID: n.workflowId,
    RUN_ID: n.runId,
    SOURCE: n.source,
    DRIVE: n.drive,
    STAGE: n.stage,
    RECORD: n.record,
    VOLUME: n.volume,
    REASON: n.reason,
    UNTIL: n.until,
    UI_URL: n.uiUrl,
    CLI: n.cli,
    ABORT_CLI: n.abortCli,
    OUTCOME: n.outcome,
    SUBJECT: subject,
    TEXT: text,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) out[`MKSYSB_TAPE_NOTICE_${k}`] = String(v);
  return out;
}

/**
 * What of the worker's environment a notification command sees: enough to find and run `mail` or a paging tool, and
 * none of the worker's credentials (TEMPORAL_API_KEY, the webhook's headers, key passphrases).
 */
const COMMAND_ENV = /^(PATH|HOME|USER|LOGNAME|SHELL|LANG|LC_[A-Z]+|TZ|TMPDIR|HOSTNAME)$/;

export function notifyActivities(config: NotifyConfig | undefined) {
  return {
    /** Sends the notice to every configured channel not reached yet; fails retryably when one of them fails. */
    async notifyPeople(input: NoticeInput): Promise<NotifyResult> {
      if (!config?.webhook && !config?.command) return { sent: [], note: 'no notification channel configured (MKSYSB_TAPE_NOTIFY_WEBHOOK, MKSYSB_TAPE_NOTIFY_COMMAND)' };
      const notice: WaitNotice = { ...input, uiUrl: runUiUrl(config.uiUrl, input.namespace, input.workflowId, input.runId) };
      const sent = new Set<NotifyChannel>(earlierSent());
      const channels: Array<[NotifyChannel, () => Promise<void>]> = [];
      if (config.webhook) channels.push(['webhook', () => postWebhook(config.webhook!, config.headers ?? {}, notice, config.webhookTimeoutMs ?? 10_000)]);
      if (config.command) channels.push(['command', () => runCommand(config.command!, notice, config.commandTimeoutMs ?? 30_000)]);
      const failures: string[] = [];
      await Promise.all(
        channels
          .filter(([name]) => !sent.has(name))
          .map(async ([name, send]) => {
            try {
              await send();
              sent.add(name);
              // The next attempt (after another channel failed) skips this one: one notice per channel.
              heartbeat({ sent: [...sent] });
            } catch (err) {
              failures.push(`${name}: ${(err as Error).message}`);
            }
          }),
      );
      if (failures.length) {
        const text = `notifying people that ${notice.backupId} ${notice.event === 'waiting' ? 'waits' : 'no longer waits'} for ${notice.waitingFor === 'operator' ? 'an operator' : 'a cartridge'} failed: ${failures.join('; ')}`;
        throw ApplicationFailure.retryable(text, 'NotifyFailed');
      }
      return { sent: channels.map(([name]) => name).filter((name) => sent.has(name)) };
    },
  };
}

function earlierSent(): NotifyChannel[] {
  try {
    const details = Context.current().info.heartbeatDetails as { sent?: unknown } | undefined;
    return Array.isArray(details?.sent) ? (details.sent.filter((s) => s === 'webhook' || s === 'command') as NotifyChannel[]) : [];
  } catch {
    return []; // outside an activity (unit use)
  }
}

/** One POST; anything but a 2xx answer is a failure. Errors name neither the URL (it may hold a token) nor headers. */
async function postWebhook(url: string, headers: Record<string, string>, notice: WaitNotice, timeoutMs: number): Promise<void> {
  const signals = [AbortSignal.timeout(timeoutMs)];
  const cancel = cancellationSignal();
  if (cancel) signals.push(cancel);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'mksysb-tape' },
      body: JSON.stringify(notice),
      signal: AbortSignal.any(signals),
      redirect: 'error',
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    if (e.name === 'TimeoutError') throw new Error(`the webhook did not answer within ${timeoutMs / 1000} s`);
    throw new Error(`the webhook could not be reached (${e.cause?.code ?? e.name})`);
  }
  // The body is not read for its content: a receiver may echo the request, headers and all.
  await res.body?.cancel().catch(() => undefined);
  if (res.status < 200 || res.status > 299) throw new Error(`the webhook answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
}

/** `/bin/sh -c COMMAND`, the JSON on stdin; a non-zero exit, a signal or the time limit is a failure. */
async function runCommand(command: string, notice: WaitNotice, timeoutMs: number): Promise<void> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && COMMAND_ENV.test(k)) env[k] = v;
  Object.assign(env, noticeEnv(notice));
  // Its own process group, so that the time limit stops what the command line started, not only the shell.
  const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    stderr = (stderr + d).slice(-2000);
  });
  // A command that does not read its stdin (`true`, a pager taking only variables) closes it early: no failure.
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(notice) + '\n');
  let timedOut = false;
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  const cancel = cancellationSignal();
  cancel?.addEventListener('abort', kill, { once: true });
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c, s) => resolve([c, s]));
    });
    const said = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ').slice(0, 400);
    if (timedOut) throw new Error(`the command did not finish within ${timeoutMs / 1000} s`);
    if (code !== 0) throw new Error(`the command ${code === null ? `was killed by ${signal}` : `exited with status ${code}`}${said ? `: ${said}` : ''}`);
  } finally {
    clearTimeout(timer);
    cancel?.removeEventListener('abort', kill);
  }
}
