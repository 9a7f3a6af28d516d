/**
 * Logging in to one host: one ssh2 connection, its host key pinned from the inventory, its failures typed.
 *
 * Cipher choice: `aes128-gcm@openssh.com` first. It is AEAD (no separate MAC pass) and runs on AES-NI; AIX's OpenSSH
 * offers it since 6.2. `aes256-gcm`, then the CTR modes (with ETM MACs) and chacha20 follow for older servers.
 * Measured relaying 1-2 GiB between two local sshd through one worker (2 vCPU, everything on one machine):
 * aes128-gcm ~250-275 MiB/s, the same as `ssh a cat | ssh b 'cat >'` with aes128-gcm (~250 MiB/s); aes128-ctr
 * ~150 MiB/s; chacha20-poly1305 ~155 MiB/s.
 * ssh2's optional native crypto binding (`sshcrypto.node`, built by node-gyp at `npm install`) matters: without it
 * the same relay runs at ~50 MiB/s (see `nativeSshCrypto()`). `cpu-features`, the other optional part, only reorders
 * ssh2's default cipher list, which our explicit list makes irrelevant; everything works without either.
 */
import { Client, type CipherAlgorithm, type ConnectConfig, type ServerHostKeyAlgorithm } from 'ssh2';
import { AuthenticationError, ConnectError, HostKeyMismatchError, SshError, type SshHostRef, UnknownHostKeyError } from './errors';
import { fingerprint, parsePinnedKey } from './hostkey';

export interface HostEndpoint {
  /** Inventory name, used in messages. */
  name: string;
  address: string;
  port: number;
  user: string;
  /** Private key content (resolved on the worker, never part of workflow data). */
  privateKey?: Buffer | string;
  passphrase?: string;
  /** ssh-agent socket path. */
  agent?: string;
  /** Pinned public host key, `ssh-ed25519 AAAA...` (a known_hosts line's key part, or the whole line). */
  hostKey: string;
  /** Sessions the host's sshd allows on one connection (its `MaxSessions`; default 10, OpenSSH's). */
  maxSessions?: number;
}

export interface ConnectOptions {
  /** Keepalive probe interval (default 5000 ms); with keepaliveCountMax 3 a dead peer is noticed in ~15 s. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /** Handshake timeout (default 20000 ms). */
  readyTimeoutMs?: number;
  /** Overrides of ssh2's algorithm lists (cipher, kex, hmac, ...). */
  algorithms?: ConnectConfig['algorithms'];
  /** ssh2's protocol trace (it prints no key material, but does print commands). */
  debug?: (message: string) => void;
}

/** Ciphers offered, best first (see the module comment). */
export const CIPHERS: CipherAlgorithm[] = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'aes128-ctr',
  'aes256-ctr',
  'chacha20-poly1305@openssh.com',
];

type PinnedKey = { type: string; blob: Buffer };

/** Host-key algorithms that present a key of the pinned type (so negotiation cannot pick another key of the host). */
export function hostKeyAlgorithms(type: string): string[] {
  if (type === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  return [type];
}

/** Accepts only the pinned key; a refusal's reason goes to `refuse`, since ssh2 reports it as a bare handshake error. */
function hostVerifier(ref: SshHostRef, pinned: PinnedKey | null, refuse: (e: SshError) => void): (key: Buffer) => boolean {
  return (key) => {
    const seen = fingerprint(key);
    if (!pinned) {
      refuse(new UnknownHostKeyError(ref, seen));
      return false;
    }
    if (!key.equals(pinned.blob)) {
      refuse(new HostKeyMismatchError(ref, seen, fingerprint(pinned.blob)));
      return false;
    }
    return true;
  };
}

function connectConfig(ep: HostEndpoint, opts: ConnectOptions, pinned: PinnedKey | null, verify: (key: Buffer) => boolean): ConnectConfig {
  const config: ConnectConfig = {
    host: ep.address,
    port: ep.port,
    username: ep.user,
    readyTimeout: opts.readyTimeoutMs ?? 20000,
    keepaliveInterval: opts.keepaliveIntervalMs ?? 5000,
    keepaliveCountMax: opts.keepaliveCountMax ?? 3,
    ...(opts.debug ? { debug: opts.debug } : {}),
    algorithms: {
      cipher: [...CIPHERS],
      ...(pinned ? { serverHostKey: hostKeyAlgorithms(pinned.type) as ServerHostKeyAlgorithm[] } : {}),
      ...opts.algorithms,
    },
    hostVerifier: verify,
  };
  if (ep.privateKey !== undefined) config.privateKey = ep.privateKey;
  if (ep.passphrase !== undefined) config.passphrase = ep.passphrase;
  if (ep.agent !== undefined) config.agent = ep.agent;
  return config;
}

/** The typed failure for an error ssh2 reports before the connection is ready. */
function loginFailure(ref: SshHostRef, user: string, err: Error & { level?: string; code?: string }): SshError {
  if (err.level === 'client-authentication') return new AuthenticationError(ref, user, 'all offered keys were refused');
  if (err.level === 'agent') return new AuthenticationError(ref, user, `ssh-agent: ${err.message}`);
  return new ConnectError(ref, err.message, err.code ?? err.level);
}

/** Connects and logs in; rejects with a typed SshError that names the host and never holds key material. */
export function connect(ep: HostEndpoint, ref: SshHostRef, opts: ConnectOptions): Promise<Client> {
  let pinned: PinnedKey | null = null;
  if (ep.hostKey && ep.hostKey.trim() !== '') {
    pinned = parsePinnedKey(ep.hostKey);
  }
  return new Promise<Client>((resolve, reject) => {
    const client = new Client();
    let hostKeyError: SshError | null = null;
    let settled = false;
    const fail = (e: SshError): void => {
      if (settled) return;
      settled = true;
      client.destroy();
      reject(e);
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      client.removeAllListeners('error');
      // After ready, errors only end the connection: commands in flight see their channel close.
      client.on('error', () => undefined);
      resolve(client);
    });
    client.on('error', (err: Error & { level?: string; code?: string }) => fail(hostKeyError ?? loginFailure(ref, ep.user, err)));
    client.once('close', () => fail(hostKeyError ?? new ConnectError(ref, 'connection closed during the handshake')));
    const config = connectConfig(ep, opts, pinned, hostVerifier(ref, pinned, (e) => (hostKeyError = e)));
    if (ep.privateKey === undefined && ep.agent === undefined) {
      return fail(new AuthenticationError(ref, ep.user, 'no private key or agent configured'));
    }
    try {
      client.connect(config);
    } catch (e) {
      // ssh2 throws synchronously for an unreadable key or a bad passphrase: the message names no key material.
      const msg = e instanceof Error ? e.message : String(e);
      fail(new AuthenticationError(ref, ep.user, `cannot use the private key: ${msg.replace(/-----BEGIN[\s\S]*/, '')}`));
    }
  });
}
