/**
 * Every reach into ssh2's private fields and modules, in one place, each for something its public API cannot do.
 * Written against the ssh2 version package.json pins: check each one when ssh2 is upgraded.
 */
import type { Client, ClientChannel } from 'ssh2';

/**
 * True when ssh2's optional native crypto binding loaded (without it, bulk transfers are ~5x slower). ssh2 says so
 * only in its private `lib/protocol/crypto.js` module.
 */
export function nativeSshCrypto(): boolean {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return Boolean((require('ssh2/lib/protocol/crypto.js') as { bindingAvailable?: boolean }).bindingAvailable);
  } catch {
    return false;
  }
}

/**
 * True while the connection's socket (`_sock`) can still carry packets. ssh2 notices a dead socket before its 'close'
 * event reaches us, and throws "Not connected" at once on the next open: checked before using a connection.
 */
export function socketUsable(client: Client): boolean {
  const sock = (client as unknown as { _sock?: { writable?: boolean; destroyed?: boolean } })._sock;
  return Boolean(sock && !sock.destroyed && sock.writable !== false);
}

/**
 * Calls `then` once the server has answered a request sent now: a keepalive global request (`_protocol.ping()`),
 * whose reply ssh2 hands, in order, to the next callback in `_callbacks` (its own keepalive does the same). The
 * public API offers no round trip without opening a channel. Without a live connection there is no server to wait
 * for, and `then` runs at once.
 */
export function afterServerReply(client: Client, then: () => void): void {
  const c = client as unknown as { _callbacks?: Array<(hadErr: boolean) => void>; _protocol?: { ping(): void } };
  if (!socketUsable(client) || !Array.isArray(c._callbacks) || !c._protocol) return then();
  try {
    c._callbacks.push(() => then());
    c._protocol.ping();
  } catch {
    then();
  }
}

/**
 * Sends an SSH "signal" request for a session channel through ssh2's protocol object (`_client._protocol`).
 * ssh2's Channel.signal() sends nothing once our side has sent EOF (stdin ended), which is the normal state of a
 * command without input, though the request itself is valid until the channel is closed.
 */
export function signalSession(ch: ClientChannel, signal: string): void {
  const c = ch as unknown as {
    type?: string;
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, sig: string): void } };
  };
  try {
    if (c.type === 'session' && c.outgoing && (c.outgoing.state === 'open' || c.outgoing.state === 'eof')) {
      c._client?._protocol?.signal(c.outgoing.id, signal);
    }
  } catch {
    /* channel already closing */
  }
}
