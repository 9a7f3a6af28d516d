/**
 * The host inventory: every host the backups may reach, how to log in (key file or agent, never a secret itself),
 * its pinned host key, OS, role, staging folder and, for tape hosts, its tape devices and the sources it may pull
 * images from by itself (`pullFrom`, direct transfers). Read by the worker from the
 * file named in temporal.config.ts; written by the lab too.
 *
 * Pure code (the loader with fs is load-inventory.ts): imports nothing but zod.
 */
import { z } from 'zod';
import { convertIssues, fallbackReason, InventoryValidationError } from './format';
import {
  addressReason,
  deviceKindReason,
  deviceReason,
  envNameReason,
  hostKeyReason,
  hostNameReason,
  localPathReason,
  list,
  namedRecord,
  normaliseHostKey,
  number,
  object,
  oneOf,
  positiveInteger,
  remoteFileReason,
  text,
  userReason,
  workFolderReason,
} from './rules';
import { HOST_OSES } from './tape-rules';

export const ROLES = ['source', 'tape'] as const;
export type Role = (typeof ROLES)[number];

const ROLE_RULE = 'must be "source", "tape", or ["source", "tape"] for a host that is both';

const roleSchema = z
  .unknown()
  .superRefine((v, ctx) => {
    if (v === undefined) ctx.addIssue({ code: 'custom', continue: false, message: 'is required: "source", "tape", or ["source", "tape"] for a host that is both' });
    else if (typeof v === 'string') {
      if (!(ROLES as readonly string[]).includes(v)) ctx.addIssue({ code: 'custom', continue: false, message: ROLE_RULE });
    } else if (Array.isArray(v)) {
      const ok = v.length > 0 && v.every((r) => (ROLES as readonly unknown[]).includes(r)) && new Set(v).size === v.length;
      if (!ok) ctx.addIssue({ code: 'custom', continue: false, message: ROLE_RULE });
    } else ctx.addIssue({ code: 'custom', continue: false, message: ROLE_RULE });
  })
  .transform((v) => v as Role | Role[]);

const keySchema = object(
  {
    path: text(localPathReason, { type: 'must be the path of a private key file on the worker, as text' }).optional(),
    passphraseEnv: text(envNameReason, { type: 'must be the name of an environment variable, as text' }).optional(),
    agent: text(localPathReason, { type: 'must be the path of an ssh-agent socket on the worker, as text' }).optional(),
  },
  {
    required: 'is required: how the worker logs in, {"path": "/abs/id_ed25519"} or {"agent": "/run/ssh-agent.sock"}',
    type: 'must be an object such as {"path": "/abs/id_ed25519"} or {"agent": "/run/ssh-agent.sock"}',
  },
)
  .superRefine((k, ctx) => {
    if (k.path === undefined && k.agent === undefined) {
      ctx.addIssue({ code: 'custom', continue: false, message: 'must give either "path" (a private key file) or "agent" (an ssh-agent socket)' });
    } else if (k.path !== undefined && k.agent !== undefined) {
      ctx.addIssue({ code: 'custom', continue: false, message: 'must give either "path" or "agent", not both' });
    } else if (k.agent !== undefined && k.passphraseEnv !== undefined) {
      ctx.addIssue({ code: 'custom', continue: false, path: ['passphraseEnv'], message: 'goes with "path" only: an agent holds its keys unlocked' });
    }
  })
  .transform((k): KeySource => (k.agent !== undefined ? { agent: k.agent } : { path: k.path!, ...(k.passphraseEnv ? { passphraseEnv: k.passphraseEnv } : {}) }));

/** How the worker authenticates: a key file (its passphrase, if any, in an environment variable) or an agent. */
export type KeySource = { path: string; passphraseEnv?: string } | { agent: string };

const deviceSchema = object(
  {
    capacityBytes: positiveInteger('bytes').optional(),
    /** `sequential`: the drive loads the next cartridge of its magazine by itself after an eject (multi-volume sets). */
    autoloader: oneOf(['sequential'] as const).optional(),
    /** How long the autoloader may take to make the next cartridge ready before a person is asked (default 600). */
    autoloaderWaitSeconds: number(1, 86400).optional(),
  },
  { type: 'must be an object such as {"capacityBytes": 4294967296, "autoloader": "sequential"}' },
);

/**
 * How a tape host logs in to a source by itself (OpenSSH on the tape host) to pull the images in one hop. The key is
 * a file on the tape host, never read by the worker; address, port and user default to the source's own entry.
 */
const pullSchema = object(
  {
    identityFile: text(remoteFileReason, {
      required: 'is required: the private key on the tape host that the source accepts (e.g. "/home/mksysb/.ssh/id_pull")',
      type: 'must be the path of a private key file on the tape host, as text',
    }),
    address: text(addressReason, { type: 'must be a host name or IP address as text' }).optional(),
    port: number(1, 65535).optional(),
    user: text(userReason, { type: 'must be a login name as text (e.g. "root")' }).optional(),
  },
  { type: 'must be an object such as {"identityFile": "/home/mksysb/.ssh/id_pull"}' },
);

const hostSchema = object(
  {
    address: text(addressReason, {
      required: 'is required: the host name or IP address to connect to',
      type: 'must be a host name or IP address as text',
    }),
    port: number(1, 65535).default(22),
    /**
     * The host sshd's `MaxSessions` (sessions per connection): the worker never opens more on one connection.
     * Absent: OpenSSH's default of 10 (src/ssh DEFAULT_MAX_SESSIONS).
     */
    maxSessions: number(1, 1000).optional(),
    user: text(userReason, { required: 'is required: the login name (e.g. "root")', type: 'must be a login name as text (e.g. "root")' }),
    os: oneOf(HOST_OSES, "the host's operating system"),
    role: roleSchema,
    workFolder: text(workFolderReason, {
      required: 'is required: the staging folder on this host (e.g. "/home/mksysb")',
      type: 'must be a folder path as text (e.g. "/home/mksysb")',
    }),
    key: keySchema,
    hostKey: text(hostKeyReason, {
      required: 'is required: the host\'s public key "TYPE BASE64" from /etc/ssh/ssh_host_ed25519_key.pub, so that the worker knows it talks to the right host',
      type: 'must be the public host key as text, "TYPE BASE64"',
    }).transform(normaliseHostKey),
    devices: namedRecord(deviceReason, 'device name', deviceSchema, {
      type: 'must be an object such as {"rmt0": {"capacityBytes": 4294967296}}',
    }).optional(),
    pullFrom: namedRecord(hostNameReason, 'host name', pullSchema, {
      type: 'must be an object of source hosts by name, such as {"aix01": {"identityFile": "/home/mksysb/.ssh/id_pull"}}',
    }).optional(),
  },
  { type: 'must be an object describing the host ("address", "user", "os", "role", ...)' },
).superRefine((h, ctx) => {
  const roles = rolesOf(h.role);
  if (roles.includes('source') && h.os !== 'aix') {
    ctx.addIssue({ code: 'custom', continue: false, path: ['os'], message: 'a source host must run AIX: mksysb exists only there' });
  }
  if (roles.includes('tape')) {
    if (h.devices === undefined || Object.keys(h.devices).length === 0) {
      ctx.addIssue({
        code: 'custom', continue: false,
        path: ['devices'],
        message: `a tape host must list its tape devices, e.g. {"${h.os === 'linux' ? 'nst0' : 'rmt0'}": {}}`,
      });
    }
  } else {
    if (h.devices !== undefined) {
      ctx.addIssue({ code: 'custom', continue: false, path: ['devices'], message: 'only a host with role "tape" has tape devices' });
    }
    if (h.pullFrom !== undefined) {
      ctx.addIssue({ code: 'custom', continue: false, path: ['pullFrom'], message: 'only a host with role "tape" pulls images from source hosts' });
    }
  }
  for (const name of Object.keys(h.devices ?? {})) {
    const why = deviceKindReason(name, 'this host', h.os);
    if (why) ctx.addIssue({ code: 'custom', continue: false, path: ['devices', name], message: `is not a device name for this host: ${why}` });
  }
});

const GROUP_TEXT = 'must be a list of source host names such as ["aix01", "aix02"]';

/** The zod schema of the inventory file (strict: unknown fields are refused by name). */
export const inventorySchema = object(
  {
    hosts: namedRecord(hostNameReason, 'host name', hostSchema, {
      required: 'is required: an object of hosts by name, such as {"aix01": {...}}',
      type: 'must be an object of hosts by name, such as {"aix01": {...}}',
    }),
    groups: namedRecord(
      hostNameReason,
      'group name',
      list(text(hostNameReason, { type: 'must be a host name as text' }), { type: GROUP_TEXT }),
      { type: 'must be an object of groups by name, such as {"nightly": ["aix01"]}' },
    ).default(() => ({})),
  },
  {
    required: 'no inventory was given',
    type: 'must be an object such as {"hosts": {...}, "groups": {...}}',
  },
).superRefine((inv, ctx) => {
  const names = Object.keys(inv.hosts);
  if (names.length === 0) ctx.addIssue({ code: 'custom', continue: false, path: ['hosts'], message: 'must list at least one host' });
  for (const [group, members] of Object.entries(inv.groups)) {
    if (members.length === 0) ctx.addIssue({ code: 'custom', continue: false, path: ['groups', group], message: 'must list at least one host' });
    const seen = new Set<string>();
    members.forEach((m, i) => {
      const path = ['groups', group, i];
      const host = Object.hasOwn(inv.hosts, m) ? inv.hosts[m] : undefined;
      if (seen.has(m)) ctx.addIssue({ code: 'custom', continue: false, path, message: 'is listed twice in this group' });
      else if (!host) ctx.addIssue({ code: 'custom', continue: false, path, message: 'is not a host in this inventory' });
      else if (!rolesOf(host.role).includes('source')) ctx.addIssue({ code: 'custom', continue: false, path, message: 'is not a host with role "source"' });
      seen.add(m);
    });
  }
  for (const [name, h] of Object.entries(inv.hosts)) {
    for (const from of Object.keys(h.pullFrom ?? {})) {
      const path = ['hosts', name, 'pullFrom', from];
      const source = Object.hasOwn(inv.hosts, from) ? inv.hosts[from] : undefined;
      if (!source) ctx.addIssue({ code: 'custom', continue: false, path, message: 'is not a host in this inventory' });
      else if (from === name) ctx.addIssue({ code: 'custom', continue: false, path, message: 'is this host itself: a host reads its own files without a key' });
      else if (!rolesOf(source.role).includes('source')) {
        ctx.addIssue({ code: 'custom', continue: false, path, message: 'is not a host with role "source": a tape host pulls images only from source hosts' });
      }
    }
  }
});

/** The inventory as written in the file (what the lab writes). */
export type InventoryFile = z.input<typeof inventorySchema>;
/** The inventory after validation: port defaulted, host keys without comments, key sources normalised. */
export type Inventory = z.output<typeof inventorySchema>;
export type InventoryHost = Inventory['hosts'][string];

/** A host's roles as a list. */
export function rolesOf(role: Role | readonly Role[]): Role[] {
  return typeof role === 'string' ? [role] : [...role];
}

export function hostHasRole(host: InventoryHost, role: Role): boolean {
  return rolesOf(host.role).includes(role);
}

/** How a tape host reaches a source by itself, all fields settled: what direct transfers need. */
export interface PullRoute {
  address: string;
  port: number;
  user: string;
  /** Private key on the tape host (the worker never reads it). */
  identityFile: string;
  /** The source's pinned host key, `TYPE BASE64`: the only key the tape host's ssh accepts. */
  hostKey: string;
}

/**
 * The route by which `tapeHost` pulls images from `source` itself (its `pullFrom` entry, address, port and user
 * defaulting to the source's own), or undefined when the inventory does not say the tape host may.
 */
export function pullRoute(inv: Inventory, tapeHost: string, source: string): PullRoute | undefined {
  const tape = Object.hasOwn(inv.hosts, tapeHost) ? inv.hosts[tapeHost] : undefined;
  const src = Object.hasOwn(inv.hosts, source) ? inv.hosts[source] : undefined;
  const entry = tape?.pullFrom && Object.hasOwn(tape.pullFrom, source) ? tape.pullFrom[source] : undefined;
  if (!entry || !src) return undefined;
  return {
    address: entry.address ?? src.address,
    port: entry.port ?? src.port,
    user: entry.user ?? src.user,
    identityFile: entry.identityFile,
    hostKey: src.hostKey,
  };
}

/**
 * Validate a parsed inventory (the JSON value). Throws `InventoryValidationError` naming every bad field.
 * `origin` (e.g. the file path) goes into the message.
 */
export function parseInventory(raw: unknown, origin?: string): Inventory {
  const res = inventorySchema.safeParse(raw, { error: fallbackReason });
  if (res.success) return res.data;
  const { issues, lines } = convertIssues(raw, res.error.issues);
  throw new InventoryValidationError(issues, { lines, prefix: origin ? `invalid inventory ${origin}` : 'invalid inventory' });
}
