/**
 * Turning validation problems into text an AIX operator can act on.
 *
 * Every problem becomes one line `PATH VALUE: REASON`, for example
 * `tape.device "rmt0;reboot": must be rmt followed by digits (e.g. rmt0)`. Values are shown escaped and shortened,
 * so that a newline, a NUL or a look-alike letter (Cyrillic "а" for Latin "a") is visible instead of hidden.
 *
 * Pure code: runs in the Temporal workflow sandbox, so it imports nothing but zod.
 */
import type { z } from 'zod';

/** One problem: `path` is the dotted field path (`tape.device`, `mksysbFlags[1]`, `hosts.aix01.port`). */
export interface ValidationIssue {
  path: string;
  message: string;
}

/** At most this many problems are spelled out in an error message; the rest are counted. */
export const MAX_LISTED_ISSUES = 20;

/** Longest string shown whole in a message; longer ones are cut and their length is given. */
const MAX_SHOWN_CHARS = 60;
const MAX_PATH_KEY_CHARS = 40;

/** Base of the two validation errors; its `name` is the Temporal failure type (list it as non-retryable). */
export abstract class ValidationError extends Error {
  /** Every problem: `path` as written in messages (`tape.device`), `message` the reason alone. */
  readonly issues: ValidationIssue[];
  protected constructor(message: string, issues: ValidationIssue[]) {
    super(message);
    this.issues = issues;
  }
}

/** Bad workflow input, or input that does not fit the inventory. Never worth retrying. */
export class InputValidationError extends ValidationError {
  override readonly name = 'InputValidationError';
  /** `lines` are the full `path VALUE: reason` texts (default: `path: reason`). */
  constructor(issues: ValidationIssue[], lines: string[] = issues.map(issueLine)) {
    super(joinLines('invalid backup input', lines), issues);
  }
}

/** Bad inventory file (or none). Never worth retrying until someone edits the file. */
export class InventoryValidationError extends ValidationError {
  override readonly name = 'InventoryValidationError';
  /**
   * `lines` are the full `path VALUE: reason` texts, after `prefix` (default `invalid inventory`);
   * `message` replaces the whole message (for a file that cannot be read at all).
   */
  constructor(issues: ValidationIssue[], opts: { lines?: string[]; prefix?: string; message?: string } = {}) {
    super(opts.message ?? joinLines(opts.prefix ?? 'invalid inventory', opts.lines ?? issues.map(issueLine)), issues);
  }
}

function joinLines(prefix: string, lines: string[]): string {
  const shown = lines.slice(0, MAX_LISTED_ISSUES);
  const more = lines.length - shown.length;
  return `${prefix}: ${shown.join('; ')}${more > 0 ? `; and ${more} more problem${more === 1 ? '' : 's'}` : ''}`;
}

/** `path: reason` (used when the value is not at hand). */
export function issueLine(issue: ValidationIssue): string {
  return issue.path ? `${issue.path}: ${issue.message}` : issue.message;
}

/** `path VALUE: reason`, VALUE left out when the field is missing. */
export function issueLineWithValue(path: string, value: unknown, reason: string): string {
  const head = [path, value === undefined ? '' : showValue(value)].filter((s) => s !== '').join(' ');
  return head ? `${head}: ${reason}` : reason;
}

/** A path as the operator would write it: `tape.device`, `mksysbFlags[1]`, `hosts["bad name"].port`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      if (/^[A-Za-z0-9_-]{1,40}$/.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${showString(key, MAX_PATH_KEY_CHARS)}]`;
    }
  }
  return out;
}

/** A value as shown in a message: strings quoted and escaped, lists and objects named, not dumped. */
export function showValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return showString(value, MAX_SHOWN_CHARS);
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return '(missing)';
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? '(a list)' : '(an object)';
    default:
      return '(not JSON)';
  }
}

/**
 * Quote and escape a string for a message. Only printable ASCII is shown as itself; everything else
 * (control characters, NUL, non-ASCII look-alikes) is written as \n, \t or \uXXXX. Long strings are cut.
 */
export function showString(s: string, max = MAX_SHOWN_CHARS): string {
  const cut = s.length > max;
  const body = escapeString(cut ? s.slice(0, max - 12) : s);
  return cut ? `"${body}..." (${s.length} characters)` : `"${body}"`;
}

function escapeString(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c >= 0x20 && c < 0x7f && ch.length === 1) out += ch;
    else for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
  }
  return out;
}

/** Name one character for a reason: `";"`, `a space`, `a newline`, `a NUL character`, `the non-ASCII character U+0430`. */
export function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (ch === ' ') return 'a space';
  if (ch === '\n') return 'a newline';
  if (ch === '\r') return 'a carriage return';
  if (ch === '\t') return 'a tab';
  if (cp === 0) return 'a NUL character';
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  if (cp < 0x20 || cp === 0x7f) return `the control character ${hex}`;
  if (cp > 0x7f) return `the non-ASCII character ${hex}`;
  return ch === '"' ? "'\"'" : `"${ch}"`;
}

/** The first character of `s` that `allowed` (a one-character class like /[a-z]/) does not match, or undefined. */
export function firstBadChar(s: string, allowed: RegExp): string | undefined {
  for (const ch of s) if (!allowed.test(ch)) return ch;
  return undefined;
}

/** Value found at `path` inside `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(cur, seg)) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

const FIELDS_ARE = '; the fields are ';

/** Keys that must never be in an inventory or an input: credentials belong on the worker, not in files people copy. */
const SECRET_KEYS = new Set(['passphrase', 'password', 'privatekey', 'secret', 'token']);

/** Edit distance, for "did you mean" on unknown fields. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** Reason for an unknown field `key` of an object whose fields are `allowed`. */
export function unknownFieldReason(key: string, allowed: readonly string[], suggest = true): string {
  if (SECRET_KEYS.has(key.toLowerCase())) {
    return 'unknown field; secrets must not be written here: the worker keeps credentials (the inventory names a key file or agent, and an environment variable for a passphrase)';
  }
  const near = suggest && key.length <= 40 ? allowed.find((a) => distance(key, a) <= 2) : undefined;
  if (near) return `unknown field; did you mean "${near}"?`;
  return `unknown field${FIELDS_ARE}${allowed.join(', ')}`;
}

/**
 * Convert zod issues into lines and issues. Unknown-field issues are split, one per field.
 * `root` is the raw value that was parsed, used to show each bad value.
 */
export function convertIssues(root: unknown, zodIssues: readonly z.core.$ZodIssue[]): { issues: ValidationIssue[]; lines: string[] } {
  const issues: ValidationIssue[] = [];
  const lines: string[] = [];
  for (const iss of zodIssues) {
    if (iss.code === 'unrecognized_keys') {
      const allowed = allowedKeysFromMessage(iss.message);
      for (const key of iss.keys) {
        const path = formatPath([...iss.path, key]);
        // "Did you mean" costs an edit distance per field: spent only on the problems a message shows.
        const message = unknownFieldReason(key, allowed, issues.length < MAX_LISTED_ISSUES);
        issues.push({ path, message });
        lines.push(issueLine({ path, message }));
      }
      continue;
    }
    if (iss.code === 'invalid_key') {
      // A bad name in a map such as "hosts": the name is in the path, the reason in the inner issue.
      const path = formatPath(iss.path);
      const message = iss.issues[0]?.message ?? 'is not a valid name';
      issues.push({ path, message });
      lines.push(issueLine({ path, message }));
      continue;
    }
    const path = formatPath(iss.path);
    // Lists and objects are named only when their type is the problem; otherwise the reason says it all.
    let value = valueAt(root, iss.path);
    if (value !== null && typeof value === 'object' && iss.code !== 'invalid_type') value = undefined;
    issues.push({ path, message: iss.message });
    lines.push(issueLineWithValue(path, value, iss.message));
  }
  return { issues, lines };
}

/**
 * The unrecognized_keys message of an object with fields `allowed`, for whoever uses a schema directly:
 * `unknown field "sourec"; the fields are source, tape, ...`. The formatter reads the field list back from
 * its end (zod hands an object's error function only the issue) and words one reason per unknown field.
 */
export function unknownFieldsMessage(keys: readonly string[], allowed: readonly string[]): string {
  const names = keys.map((k) => showString(k, MAX_PATH_KEY_CHARS)).join(', ');
  return `unknown field${keys.length === 1 ? '' : 's'} ${names}${FIELDS_ARE}${allowed.join(', ')}`;
}

function allowedKeysFromMessage(message: string): string[] {
  const at = message.lastIndexOf(FIELDS_ARE);
  return at < 0 ? [] : message.slice(at + FIELDS_ARE.length).split(', ').filter(Boolean);
}

/**
 * Per-parse zod error map for any issue a rule did not word itself. Every rule in this folder words its own
 * reasons, so this should never show; it keeps zod's default English out of operators' sight all the same.
 */
export function fallbackReason(iss: { input?: unknown }): string {
  return iss.input === undefined ? 'is required' : 'is not valid here';
}
