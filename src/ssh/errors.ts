/**
 * Typed SSH failures. Each class has an `errorType` name (static and on instances) that activities map to Temporal's
 * `ApplicationFailure` type, and `retryable`: what retrying cannot fix (a wrong host key, refused credentials) is
 * not retryable. Messages name the host (inventory name and address) and the SHA256 fingerprint seen; they never
 * contain key material, passphrases or the agent socket path.
 */

export interface SshHostRef {
  name: string;
  address: string;
  port: number;
}

function where(h: SshHostRef): string {
  return `${h.name} (${h.address}:${h.port})`;
}

export abstract class SshError extends Error {
  abstract readonly errorType: string;
  abstract readonly retryable: boolean;
  readonly host: string;
  constructor(host: SshHostRef, message: string) {
    super(message);
    this.host = host.name;
  }
}

/** The host presented a key other than the pinned one. Not retryable: someone must check the host. */
export class HostKeyMismatchError extends SshError {
  static readonly errorType = 'HostKeyMismatchError';
  readonly errorType = HostKeyMismatchError.errorType;
  readonly retryable = false;
  override name = 'HostKeyMismatchError';
  constructor(
    host: SshHostRef,
    readonly fingerprint: string,
    readonly expectedFingerprint: string,
  ) {
    super(host, `host key mismatch for ${where(host)}: presented ${fingerprint}, pinned ${expectedFingerprint}`);
  }
}

/** No key is pinned for the host (the inventory lacks its known_hosts line). Not retryable. */
export class UnknownHostKeyError extends SshError {
  static readonly errorType = 'UnknownHostKeyError';
  readonly errorType = UnknownHostKeyError.errorType;
  readonly retryable = false;
  override name = 'UnknownHostKeyError';
  constructor(
    host: SshHostRef,
    readonly fingerprint: string | null,
  ) {
    super(
      host,
      `no pinned host key for ${where(host)}` +
        (fingerprint ? `; it presented ${fingerprint} (add its known_hosts line to the inventory after checking it)` : ''),
    );
  }
}

/** The host refused every credential offered. Not retryable. */
export class AuthenticationError extends SshError {
  static readonly errorType = 'AuthenticationError';
  readonly errorType = AuthenticationError.errorType;
  readonly retryable = false;
  override name = 'AuthenticationError';
  constructor(host: SshHostRef, user: string, detail: string) {
    super(host, `authentication of ${user} failed on ${where(host)}: ${detail}`);
  }
}

/** The host could not be reached, or the SSH handshake did not complete. Retryable. */
export class ConnectError extends SshError {
  static readonly errorType = 'ConnectError';
  readonly errorType = ConnectError.errorType;
  readonly retryable = true;
  override name = 'ConnectError';
  constructor(
    host: SshHostRef,
    detail: string,
    readonly code?: string,
  ) {
    super(host, `cannot connect to ${where(host)}: ${detail}`);
  }
}

/** The connection dropped while a command or stream was running. Retryable. */
export class ConnectionLostError extends SshError {
  static readonly errorType = 'ConnectionLostError';
  readonly errorType = ConnectionLostError.errorType;
  readonly retryable = true;
  override name = 'ConnectionLostError';
  constructor(host: SshHostRef, detail: string) {
    super(host, `connection to ${where(host)} lost: ${detail}`);
  }
}

/** A buffered command ran past its `timeoutMs`; it was signalled and its channel closed. Retryable. */
export class CommandTimeoutError extends SshError {
  static readonly errorType = 'CommandTimeoutError';
  readonly errorType = CommandTimeoutError.errorType;
  readonly retryable = true;
  override name = 'CommandTimeoutError';
  constructor(host: SshHostRef, timeoutMs: number) {
    super(host, `command on ${where(host)} timed out after ${timeoutMs} ms`);
  }
}

/** The caller's AbortSignal fired; the remote command was signalled and its channel closed. */
export class CommandAbortedError extends SshError {
  static readonly errorType = 'CommandAbortedError';
  readonly errorType = CommandAbortedError.errorType;
  readonly retryable = false;
  override name = 'AbortError';
  constructor(host: SshHostRef) {
    super(host, `command on ${where(host)} aborted`);
  }
}

/** A buffered command printed more than `maxBuffer` bytes; use execStream for large outputs. Not retryable. */
export class OutputTooLargeError extends SshError {
  static readonly errorType = 'OutputTooLargeError';
  readonly errorType = OutputTooLargeError.errorType;
  readonly retryable = false;
  override name = 'OutputTooLargeError';
  constructor(host: SshHostRef, maxBuffer: number) {
    super(host, `command on ${where(host)} printed more than ${maxBuffer} bytes`);
  }
}

/** errorType names that retrying cannot fix: pass them as `nonRetryableErrorTypes` in activity retry policies. */
export const NON_RETRYABLE_SSH_ERROR_TYPES: readonly string[] = [
  HostKeyMismatchError.errorType,
  UnknownHostKeyError.errorType,
  AuthenticationError.errorType,
  OutputTooLargeError.errorType,
];

export function isSshError(e: unknown): e is SshError {
  return e instanceof SshError;
}
