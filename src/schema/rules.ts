/**
 * The field rules shared by the workflow input and the inventory, each as a pure `reason` function
 * (undefined when the value is fine, else the operator-facing reason) and small zod builders that attach
 * our own message to every failure. zod's default English messages are never shown.
 *
 * Pure code: runs in the Temporal workflow sandbox, so it imports nothing but zod and its own folder.
 */
import { z } from 'zod';
import { describeChar, firstBadChar, unknownFieldsMessage } from './format';
import { deviceOs, DRIVE_NAMES, isRewindingLinuxName, type HostOs } from './tape-rules';

type Reason = string | undefined;

// ---------------------------------------------------------------------------------------------------------------
// Names and paths

/** Inventory host and group names. */
export const HOST_NAME_MAX = 63;
/** Backup IDs and labels: they name folders and files on both hosts. */
export const BACKUP_ID_MAX = 128;
/** Work folders on the source and tape hosts. */
export const WORK_FOLDER_MAX = 200;

const NAME_CHAR = /^[A-Za-z0-9._-]$/;
const PATH_CHAR = /^[A-Za-z0-9._/-]$/;

/** Names of hosts, groups, backups: letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export function nameReason(v: string, max: number): Reason {
  if (v === '') return 'must not be empty';
  if (v.length > max) return `must be at most ${max} characters (it has ${v.length})`;
  const bad = firstBadChar(v, NAME_CHAR);
  if (bad !== undefined) return `may contain only letters, digits, ".", "_" and "-"; it contains ${describeChar(bad)}`;
  if (!/^[A-Za-z0-9]/.test(v)) return 'must start with a letter or digit';
  return undefined;
}

export const hostNameReason = (v: string): Reason => nameReason(v, HOST_NAME_MAX);
export const backupIdReason = (v: string): Reason => nameReason(v, BACKUP_ID_MAX);

/**
 * A staging folder on a host: absolute, plain characters only (it goes into shell command lines on AIX),
 * no `..`, no `//`, not `/` itself, no trailing `/`, at most 200 characters.
 */
export function workFolderReason(v: string): Reason {
  return plainPathReason(v, 'folder', '/home/mksysb');
}

/**
 * A file on a remote host that goes into command lines there (a tape host's private key for direct pulls):
 * the same plain characters as a work folder, and a file name at the end.
 */
export function remoteFileReason(v: string): Reason {
  return plainPathReason(v, 'file', '/home/mksysb/.ssh/id_pull');
}

function plainPathReason(v: string, kind: 'folder' | 'file', example: string): Reason {
  if (v.length > WORK_FOLDER_MAX) return `must be at most ${WORK_FOLDER_MAX} characters (it has ${v.length})`;
  if (!v.startsWith('/')) return `must be an absolute path starting with "/" (e.g. ${example})`;
  const bad = firstBadChar(v, PATH_CHAR);
  if (bad !== undefined) return `may contain only letters, digits, ".", "_", "-" and "/"; it contains ${describeChar(bad)}`;
  if (v === '/') return kind === 'folder' ? 'must not be "/" itself; name a staging folder such as /home/mksysb' : 'must name a file, not a folder';
  if (v.includes('..')) return 'must not contain ".."';
  if (v.includes('//')) return 'must not contain "//"';
  if (v.endsWith('/')) return kind === 'folder' ? 'must not end with "/"' : 'must name a file, not a folder';
  if (v.split('/').includes('.')) return 'must not contain "." as a folder name';
  return undefined;
}

/** A file on the worker (SSH private key, agent socket): absolute, no control characters. */
export function localPathReason(v: string): Reason {
  if (v.length > 1024) return `must be at most 1024 characters (it has ${v.length})`;
  if (!v.startsWith('/')) return 'must be an absolute path starting with "/"';
  const bad = firstBadChar(v, /^[^\u0000-\u001f\u007f]$/);
  if (bad !== undefined) return `must not contain ${describeChar(bad)}`;
  if (v === '/' || v.endsWith('/')) return 'must name a file, not a folder';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Devices

export const DEVICE_RULE = 'must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host';

/** A tape device base name as used in the input and the inventory: rmtN (AIX) or nstN (Linux no-rewind). */
export function deviceReason(v: string): Reason {
  if (deviceOs(v)) return undefined;
  const base = v.replace(/^\/dev\//, '');
  if (base !== v && deviceOs(base)) return `give the device name without /dev/ (e.g. ${base})`;
  const special = /^(rmt\d{1,3})\.\d$/.exec(v);
  if (special) return `give the base name ${special[1]}; the backup picks the no-rewind special file ${v.replace(/\.\d$/, '.1')} itself`;
  if (isRewindingLinuxName(v)) return `${v} rewinds on close, so the four records cannot be written one after another; use the no-rewind device n${v}`;
  return DEVICE_RULE;
}

/** Reason for a device name on a host of OS `os`, or undefined when it is of that host's kind. */
export function deviceKindReason(device: string, host: string, os: HostOs): Reason {
  if (deviceOs(device) === os) return undefined;
  return os === 'aix'
    ? `${host} runs AIX, whose tape devices are named rmt followed by digits (e.g. rmt0)`
    : `${host} runs Linux, whose no-rewind tape devices are named nst followed by digits (e.g. nst0)`;
}

/** Device given to `bosboot -ad` on the source. */
export function bootDeviceReason(v: string): Reason {
  if (v.startsWith('/dev/') && DRIVE_NAMES.aix.test(v.slice('/dev/'.length))) return undefined;
  if (DRIVE_NAMES.aix.test(v)) return `must be the full path /dev/${v}`;
  return 'must be /dev/rmt followed by digits (e.g. /dev/rmt0)';
}

// ---------------------------------------------------------------------------------------------------------------
// Network and SSH

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOST_LABEL = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A DNS host name, an IPv4 address or an IPv6 address (without brackets). */
export function addressReason(v: string): Reason {
  const rule = 'must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3)';
  if (v === '') return `${rule}; it is empty`;
  if (v.length > 253) return `must be at most 253 characters (it has ${v.length})`;
  if (v.includes(':')) return isIpv6(v) ? undefined : `${rule}; it is not a valid IPv6 address`;
  if (/^[0-9.]+$/.test(v)) return IPV4.test(v) ? undefined : `${rule}; it is not a valid IPv4 address`;
  const bad = firstBadChar(v, /^[A-Za-z0-9.-]$/);
  if (bad !== undefined) return `${rule}; it contains ${describeChar(bad)}`;
  const labels = v.replace(/\.$/, '').split('.');
  if (!labels.every((l) => HOST_LABEL.test(l))) {
    return `${rule}; each dot-separated part must be 1 to 63 letters, digits or "-", not starting or ending with "-"`;
  }
  return undefined;
}

const ipv6Schema = z.ipv6();
function isIpv6(v: string): boolean {
  return ipv6Schema.safeParse(v).success;
}

/** Unix login name. */
export function userReason(v: string): Reason {
  if (/^[a-z_][a-z0-9_-]{0,31}$/.test(v)) return undefined;
  return 'must be a login name: lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters';
}

/** Environment variable name (for a key passphrase kept out of the inventory). */
export function envNameReason(v: string): Reason {
  if (/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(v)) return undefined;
  return 'must be the name of an environment variable: letters, digits and "_", not starting with a digit';
}

/**
 * Host key types accepted, with the base64 text every key blob of that type starts with (the blob begins
 * with the type name as an SSH string) and the exact base64 length where the type has a fixed size.
 */
export const HOST_KEY_TYPES: Readonly<Record<string, { prefix: string; length?: number }>> = {
  'ssh-ed25519': { prefix: 'AAAAC3NzaC1lZDI1NTE5', length: 68 },
  'ssh-rsa': { prefix: 'AAAAB3NzaC1yc2E' },
  'ecdsa-sha2-nistp256': { prefix: 'AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY', length: 140 },
  'ecdsa-sha2-nistp384': { prefix: 'AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ', length: 184 },
  'ecdsa-sha2-nistp521': { prefix: 'AAAAE2VjZHNhLXNoYTItbmlzdHA1MjE', length: 232 },
};

/**
 * A pinned host key, `TYPE BASE64` as in the host's `/etc/ssh/ssh_host_*_key.pub`. A trailing comment is
 * accepted and dropped by `normaliseHostKey`.
 */
export function hostKeyReason(v: string): Reason {
  const how = 'must be a public host key "TYPE BASE64" as in /etc/ssh/ssh_host_ed25519_key.pub, with TYPE ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521';
  if (v.length > 8192) return `must be at most 8192 characters (it has ${v.length})`;
  const bad = firstBadChar(v, /^[\x20-\x7e]$/);
  if (bad !== undefined) return `${how}; it contains ${describeChar(bad)}`;
  const parts = v.split(' ');
  const [type, data] = parts;
  if (type === undefined || data === undefined || !Object.hasOwn(HOST_KEY_TYPES, type)) {
    if (data !== undefined && Object.hasOwn(HOST_KEY_TYPES, data)) {
      return `${how}; this looks like a known_hosts line: leave out the host name in front`;
    }
    return how;
  }
  const spec = HOST_KEY_TYPES[type]!;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return `the key data after "${type} " is not valid base64`;
  if (data.length < spec.prefix.length + 8) return `the key data is too short for an ${type} key; it was cut when copied`;
  if (!data.startsWith(spec.prefix)) return `the key data is not an ${type} key; copy the whole line of the host's .pub file`;
  if (spec.length !== undefined && data.length !== spec.length) {
    return `the key data has ${data.length} characters but an ${type} key has ${spec.length}; it was cut or joined when copied`;
  }
  if (spec.length === undefined && data.length < 200) return `the key data is too short for an ${type} key; it was cut when copied`;
  if (data.length % 4 !== 0) return `the key data is not valid base64 (its length is not a multiple of 4); it was cut when copied`;
  return undefined;
}

/** `TYPE BASE64` without any comment. Call only on a key `hostKeyReason` accepted. */
export function normaliseHostKey(v: string): string {
  return v.split(' ').slice(0, 2).join(' ');
}

// ---------------------------------------------------------------------------------------------------------------
// zod builders: every failure carries our reason

/** How to describe a field when it is missing or of the wrong JSON type. */
export interface FieldText {
  /** Reason when the field is missing (only for required fields). */
  required?: string;
  /** Reason when the value has the wrong type, e.g. `must be text such as "aix01"`. */
  type: string;
}

/**
 * The reason for a missing field or a wrong JSON type. `unquoted` tells whether a string value would have been
 * right without its quotes ("3" for 3, "true" for true): then the reason says so.
 */
function typeError(text: FieldText, unquoted?: (s: string) => boolean) {
  return (iss: { input?: unknown }): string => {
    if (iss.input === undefined) return text.required ?? 'is required';
    if (unquoted && typeof iss.input === 'string' && unquoted(iss.input)) return `${text.type}, written without quotes`;
    return text.type;
  };
}

const looksNumeric = (s: string): boolean => s.trim() !== '' && Number.isFinite(Number(s));

/** A string checked by `reason`. */
export function text(reason: (v: string) => Reason, t: FieldText) {
  return z.string({ error: typeError(t) }).superRefine((v, ctx) => {
    const r = reason(v);
    if (r !== undefined) ctx.addIssue({ code: 'custom', continue: false, message: r });
  });
}

/**
 * A number from `min` to `max`; whole unless `fraction`. `extra` is a further rule, checked only when the
 * number is in range (so one value gets one reason).
 */
export function number(
  min: number,
  max: number,
  opts: { fraction?: boolean; required?: string; extra?: (v: number) => Reason } = {},
) {
  const rule = opts.fraction ? `must be a number from ${min} to ${max}` : `must be a whole number from ${min} to ${max}`;
  return z.number({ error: typeError({ type: rule, required: opts.required }, looksNumeric) }).superRefine((v, ctx) => {
    const r = (!opts.fraction && !Number.isInteger(v)) || v < min || v > max ? rule : opts.extra?.(v);
    if (r !== undefined) ctx.addIssue({ code: 'custom', continue: false, message: r });
  });
}

/** A whole number of at least 1 (byte counts). */
export function positiveInteger(what: string) {
  const rule = `must be a whole number of ${what} greater than 0`;
  return z.number({ error: typeError({ type: rule }, looksNumeric) }).superRefine((v, ctx) => {
    if (!Number.isSafeInteger(v) || v < 1) ctx.addIssue({ code: 'custom', continue: false, message: rule });
  });
}

export function boolean() {
  return z.boolean({ error: typeError({ type: 'must be true or false' }, (s) => s === 'true' || s === 'false') });
}

/** One of `values`, with our own reason listing them. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, required?: string) {
  const list = values.map((v) => `"${v}"`).join(', ');
  const rule = `must be one of ${list}`;
  return z.enum(values, { error: typeError({ type: rule, required: required && `is required: ${required} (one of ${list})` }) });
}

/** A strict object: unknown fields are refused and named; `type` is the reason when it is not an object. */
export function object<S extends z.core.$ZodLooseShape>(shape: S, t: FieldText) {
  const fields = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? unknownFieldsMessage(iss.keys, fields) : typeError(t)(iss)),
  });
}

/** A list (JSON array). */
export function list<T extends z.ZodType>(item: T, t: FieldText) {
  return z.array(item, { error: typeError(t) });
}

/**
 * An object used as a map from names to values (hosts, groups, devices). Each name is checked by `keyReason`;
 * `what` names the kind of name in the reason ("host name"). A `__proto__` key, which zod would drop silently,
 * is refused too.
 */
export function namedRecord<V extends z.ZodType>(keyReason: (k: string) => Reason, what: string, value: V, t: FieldText) {
  const key = z.string().superRefine((k, ctx) => {
    const r = keyReason(k);
    if (r !== undefined) ctx.addIssue({ code: 'custom', continue: false, message: `is not a valid ${what}: ${r}` });
  });
  return z.preprocess(
    (v, ctx) => {
      if (v !== null && typeof v === 'object' && Object.hasOwn(v, '__proto__')) {
        ctx.addIssue({ code: 'custom', continue: false, path: ['__proto__'], message: `is not a valid ${what}`, input: v });
      }
      return v;
    },
    z.record(key, value, { error: typeError(t) }),
  );
}
