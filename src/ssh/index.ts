export * from './errors';
export { fingerprint, parsePinnedKey } from './hostkey';
export { SshPool, CIPHERS, DEFAULT_MAX_SESSIONS, nativeSshCrypto } from './pool';
export type { HostEndpoint, SshHost, SshPoolOptions, SshPoolStats, ExecOptions, ExecResult, ExitResult, RemoteProcess, ClientChannel, SFTPWrapper } from './pool';
export { relay } from './relay';
export type { RelayOptions, RelayResult } from './relay';
