/** Host-key pinning: parse a pinned public key and compute OpenSSH-style fingerprints. */
import { createHash } from 'node:crypto';

/** `SHA256:base64` without padding, as `ssh-keygen -lf` and OpenSSH's messages print it. */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)$/;

/**
 * Parses a pinned host key: `TYPE BASE64 [comment]` or a whole known_hosts line `HOSTS TYPE BASE64 [comment]`.
 * Returns the key blob, checked to start with the same key type it claims. Throws on anything else.
 */
export function parsePinnedKey(text: string): { type: string; blob: Buffer } {
  const tokens = text.trim().split(/\s+/);
  const i = tokens.findIndex((t) => KEY_TYPE.test(t));
  const type = i >= 0 ? tokens[i] : undefined;
  const b64 = i >= 0 ? tokens[i + 1] : undefined;
  if (!type || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new Error('pinned host key must look like "ssh-ed25519 AAAA..." (a known_hosts key)');
  }
  const blob = Buffer.from(b64, 'base64');
  // The blob begins with the key type as an SSH string: uint32 length, then the name.
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len <= 0 || 4 + len > blob.length || blob.subarray(4, 4 + len).toString('latin1') !== type) {
    throw new Error(`pinned host key is not a valid ${type} key`);
  }
  return { type, blob };
}
