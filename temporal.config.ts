/**
 * The one place for configuration: how to reach Temporal, which task queue to use, activity timeouts and retry
 * policies, and where the host inventory lives. Every value has a documented default and an environment variable
 * that overrides it. The Temporal connection itself comes from `@temporalio/envconfig`: a profile in
 * `temporal.toml` (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE) and the standard TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY and TEMPORAL_TLS_* variables; without any of them it is localhost:7233, namespace "default".
 */
import * as path from 'node:path';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import type { RelayVia } from './src/activities/hosts';
import type { NotifyConfig } from './src/activities/notify';
import { DEFAULT_POLICIES, type StagePolicies } from './src/shared/policies';

export interface MksysbTapeConfig {
  /** Connection options and namespace for clients and workers (from envconfig). */
  connect: ClientConnectConfig & { namespace: string };
  /** Task queue of the worker and of the workflows it runs. MKSYSB_TAPE_TASK_QUEUE, default `mksysb-tape`. */
  taskQueue: string;
  /** Host inventory file (JSON). MKSYSB_TAPE_INVENTORY, default `./inventory.json`. */
  inventoryPath: string;
  /** Per-stage activity timeouts and retry policies (see src/shared/policies.ts); MKSYSB_TAPE_POLICIES (JSON) overrides. */
  policies: StagePolicies;
  /** Prometheus metrics endpoint of the worker, e.g. `127.0.0.1:9464`. MKSYSB_TAPE_METRICS, default none. */
  metricsAddress?: string;
  /**
   * Milliseconds between polls of a long remote command (mksysb, a tape write): heartbeats and progress (its end is
   * reported at once by the session that started it). MKSYSB_TAPE_POLL_INTERVAL_MS, default 2000.
   */
  pollIntervalMs: number;
  /** Pre-built workflow bundle for production workers. MKSYSB_TAPE_WORKFLOW_BUNDLE, default: bundle at start-up. */
  workflowBundlePath?: string;
  /**
   * What the worker does at start when the namespace lacks the project's search attributes: false (default) refuses to
   * start and prints the `temporal operator search-attribute create` line; true registers them.
   * MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES=1 (`npm run dev` defaults it to 1).
   */
  registerSearchAttributes: boolean;
  /**
   * Worker Deployment Versioning: the deployment and build this worker belongs to (src/workflows/versioning.ts says
   * which workflow types stay on the build that started them). MKSYSB_TAPE_DEPLOYMENT_NAME and MKSYSB_TAPE_BUILD_ID,
   * both or neither; default none (unversioned worker).
   */
  deployment?: { deploymentName: string; buildId: string };
  /**
   * Who is told when a run starts and stops waiting for a person (docs/notifications.md): MKSYSB_TAPE_NOTIFY_WEBHOOK
   * (http(s) URL, POSTed the notice as JSON), MKSYSB_TAPE_NOTIFY_HEADERS (JSON object of extra request headers, e.g.
   * `{"Authorization": "Bearer ..."}`, kept out of every payload and log), MKSYSB_TAPE_NOTIFY_COMMAND (command line
   * run by `/bin/sh -c` on the worker host, the notice's JSON on stdin, MKSYSB_TAPE_NOTICE_* variables), and
   * MKSYSB_TAPE_UI_URL (base URL of the Temporal Web UI for the link to the run, default `http://localhost:8233`).
   * Default: no channel; nobody is told.
   */
  notify: NotifyConfig;
  /**
   * How the worker relays an image from the source to the tape host (docs/relay.md): `auto` (default) through its own
   * OpenSSH clients when it has `ssh` and `setpriv --pdeathsig` and both hosts log in with a key file without a
   * passphrase, through ssh2 otherwise; `openssh` always through OpenSSH (a run fails when the worker lacks it);
   * `ssh2` always through ssh2. MKSYSB_TAPE_RELAY.
   */
  relayVia: RelayVia;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): MksysbTapeConfig {
  const envVars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const connect = loadClientConnectConfig({
    profile: env.TEMPORAL_PROFILE,
    overrideEnvVars: envVars,
  });
  connect.connectionOptions.address ??= 'localhost:7233';
  const namespace = connect.namespace ?? 'default';
  let policies = DEFAULT_POLICIES;
  if (env.MKSYSB_TAPE_POLICIES) {
    try {
      policies = mergePolicies(DEFAULT_POLICIES, JSON.parse(env.MKSYSB_TAPE_POLICIES));
    } catch (err) {
      throw new Error(`MKSYSB_TAPE_POLICIES is not valid JSON: ${(err as Error).message}`);
    }
  }
  return {
    connect: { ...connect, namespace },
    taskQueue: env.MKSYSB_TAPE_TASK_QUEUE || 'mksysb-tape',
    inventoryPath: path.resolve(env.MKSYSB_TAPE_INVENTORY || 'inventory.json'),
    policies,
    metricsAddress: env.MKSYSB_TAPE_METRICS || undefined,
    pollIntervalMs: Number(env.MKSYSB_TAPE_POLL_INTERVAL_MS) > 0 ? Number(env.MKSYSB_TAPE_POLL_INTERVAL_MS) : 2000,
    workflowBundlePath: env.MKSYSB_TAPE_WORKFLOW_BUNDLE || undefined,
    registerSearchAttributes: flag('MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES', env.MKSYSB_TAPE_REGISTER_SEARCH_ATTRIBUTES),
    deployment: deploymentOf(env),
    notify: notifyOf(env),
    relayVia: relayViaOf(env.MKSYSB_TAPE_RELAY),
  };
}

const httpUrl = z.url({ protocol: /^https?$/ });

/** Errors name the variable and never echo MKSYSB_TAPE_NOTIFY_HEADERS: it holds a credential. */
function notifyOf(env: NodeJS.ProcessEnv): NotifyConfig {
  const webhook = env.MKSYSB_TAPE_NOTIFY_WEBHOOK || undefined;
  if (webhook && !httpUrl.safeParse(webhook).success) throw new Error('MKSYSB_TAPE_NOTIFY_WEBHOOK must be an http:// or https:// URL');
  const uiUrl = env.MKSYSB_TAPE_UI_URL || 'http://localhost:8233';
  if (!httpUrl.safeParse(uiUrl).success) throw new Error(`MKSYSB_TAPE_UI_URL must be an http:// or https:// URL (got "${uiUrl}")`);
  let headers: Record<string, string> | undefined;
  if (env.MKSYSB_TAPE_NOTIFY_HEADERS) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(env.MKSYSB_TAPE_NOTIFY_HEADERS);
    } catch {
      throw new Error('MKSYSB_TAPE_NOTIFY_HEADERS is not valid JSON (expected an object such as {"Authorization": "Bearer ..."})');
    }
    const checked = z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/), z.string().regex(/^[^\r\n\0]*$/)).safeParse(parsed);
    if (!checked.success) throw new Error('MKSYSB_TAPE_NOTIFY_HEADERS must be a JSON object of header names to string values, one line each');
    headers = checked.data;
  }
  return {
    uiUrl: uiUrl.replace(/\/+$/, ''),
    ...(webhook ? { webhook } : {}),
    ...(headers ? { headers } : {}),
    ...(env.MKSYSB_TAPE_NOTIFY_COMMAND?.trim() ? { command: env.MKSYSB_TAPE_NOTIFY_COMMAND } : {}),
  };
}

function relayViaOf(v: string | undefined): RelayVia {
  if (v === undefined || v === '') return 'auto';
  if (v === 'auto' || v === 'openssh' || v === 'ssh2') return v;
  throw new Error(`MKSYSB_TAPE_RELAY must be auto, openssh or ssh2 (got "${v}")`);
}

function flag(name: string, v: string | undefined): boolean {
  if (v === undefined || v === '') return false;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new Error(`${name} must be 1 or 0 (got "${v}")`);
}

function deploymentOf(env: NodeJS.ProcessEnv): MksysbTapeConfig['deployment'] {
  const deploymentName = env.MKSYSB_TAPE_DEPLOYMENT_NAME || undefined;
  const buildId = env.MKSYSB_TAPE_BUILD_ID || undefined;
  if (!deploymentName && !buildId) return undefined;
  if (!deploymentName || !buildId) {
    throw new Error('MKSYSB_TAPE_DEPLOYMENT_NAME and MKSYSB_TAPE_BUILD_ID go together: set both (versioned worker) or neither');
  }
  return { deploymentName, buildId };
}

function mergePolicies(base: StagePolicies, over: Partial<Record<keyof StagePolicies, object>>): StagePolicies {
  const out = { ...base };
  for (const [stage, value] of Object.entries(over)) {
    if (!(stage in base)) throw new Error(`MKSYSB_TAPE_POLICIES names an unknown stage "${stage}"; known: ${Object.keys(base).join(', ')}`);
    const k = stage as keyof StagePolicies;
    out[k] = { ...base[k], ...value };
  }
  return out;
}

export default loadConfig;
