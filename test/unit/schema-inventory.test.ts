/**
 * The inventory schema: every bad inventory is refused with the exact message an operator sees; a good one comes
 * back with defaults applied and host keys normalised.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HOST_KEY_TYPES, hostHasRole, InventoryValidationError, parseInventory, pullRoute, rolesOf } from '../../src/schema';

// Real public host keys made with ssh-keygen (public halves only).
const KEYS = {
  ed25519: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddLgXB3hsSbMzFNOr4moMSjpgUr+cN1Al',
  ed25519b: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILvRp3XltVLjohvDAzPobb9w2d+p+omvwxH48I/b0HWE',
  rsa: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCnExOPhnCkFnfWp3h6kJUgy5PpHJ4Ld6k4VF22MSzQx3/ns0m6/aMl5aKLP2tp8FGjhix9CQ2xSIk3SzxfHibUjwK11GuRhm98lX6SZlDjRYdDbC0ksifuqe4GK4oj6uKfvv1LFUqV04EfLrFIaZU/llueMKOPTIXMVGR8MeewPYtU+USdrWeOzATvG93fm8XzrR1hJBooEtscfxBoFMvUL83CQJuwFbcGk86wunpLjlZSU1L+UuouMNLBUoRM4SwnInpOp3uhAM5M0lYBNW+OZzU5kBCiGa4TFprX3kTWCWM6FklEp8THFapHeuUgm4wmoFgKDVSRcpmJgkjO7tJL',
  ecdsa256: 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBOgfOe07tT7wz4DEN2Nh2rIlx99CLPQP7ZY1Z9RO7MNx5ScOIFu4vwxHbz5rXsHHNWJoRKhOCQbdL1idCH3fKhw=',
  ecdsa384: 'ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBHdUWvxUjTX4IMUED18YG3vK76C+uLG5/Q4kqEZQZoLZrKfjdSy8eR3/X9YqJd4iGdHaB90byM92wgfH37s4Ehv2WCC/65b2dulCmLsWR0cdXE5iow3RdgquDGsuLPmcRA==',
  ecdsa521: 'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBACjm+rumeIVgfb+VeYSi5iEJHTXg6DD5bDh2pARSWblbp0W+YHN8nvqUk9zUmGLBseYDXbM8ByysCLm7BGs3ApEggFApp/VNA6SSYrHcrw0+T4MwGLBdNDPgsM3AGEaCEGgZdu0+7mV+y4SUckGHUeEUiKN7SzxApvsin5kqzvwRfcNig==',
} as const;

const aix01 = {
  address: '127.0.0.1',
  port: 40101,
  user: 'root',
  os: 'aix',
  role: 'source',
  workFolder: '/home/mksysb',
  key: { path: '/abs/id_ed25519', passphraseEnv: 'AIX01_KEY_PASSPHRASE' },
  hostKey: KEYS.ed25519,
};
const tapesrv = {
  address: '127.0.0.1',
  port: 40102,
  user: 'root',
  os: 'aix',
  role: 'tape',
  workFolder: '/home/mksysb',
  key: { agent: '/run/ssh-agent.sock' },
  hostKey: KEYS.ed25519b,
  devices: { rmt0: { capacityBytes: 4294967296 } },
};
/** The inventory of the brief: one AIX source, one AIX tape host, one group. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test fixtures are reshaped freely
const good = (): Record<string, any> => structuredClone({ hosts: { aix01, tapesrv }, groups: { nightly: ['aix01'] } });
/** `good()` with one more host. */
const withHost = (name: string, h: unknown) => ({ ...good(), hosts: { ...good().hosts, [name]: h } });
/** `good()` with fields of aix01 changed (undefined removes the field). */
const host = (fields: Record<string, unknown>) => withHost('aix01', strip({ ...aix01, ...fields }));
/** `good()` with fields of tapesrv changed. */
const tapeHost = (fields: Record<string, unknown>) => withHost('tapesrv', strip({ ...tapesrv, ...fields }));
function strip(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

interface BadCase {
  name: string;
  input: unknown;
  /** The message after "invalid inventory: ". */
  message: string;
}

function refusal(input: unknown, origin?: string): InventoryValidationError {
  try {
    parseInventory(input, origin);
  } catch (err) {
    assert.ok(err instanceof InventoryValidationError, `expected InventoryValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail(`inventory was accepted: ${JSON.stringify(input)}`);
}

const BAD: BadCase[] = [
  // The whole file
  {
    name: 'a list',
    input: [],
    message:
      '(a list): must be an object such as {"hosts": {...}, "groups": {...}}',
  },
  {
    name: 'a string',
    input: 'hosts',
    message:
      '"hosts": must be an object such as {"hosts": {...}, "groups": {...}}',
  },
  {
    name: 'no hosts',
    input: {},
    message:
      'hosts: is required: an object of hosts by name, such as {"aix01": {...}}',
  },
  {
    name: 'hosts empty',
    input: { hosts: {} },
    message:
      'hosts: must list at least one host',
  },
  {
    name: 'hosts a list',
    input: { hosts: [] },
    message:
      'hosts (a list): must be an object of hosts by name, such as {"aix01": {...}}',
  },
  {
    name: 'unknown top-level field',
    input: { ...good(), host: {} },
    message:
      'host: unknown field; did you mean "hosts"?',
  },
  // Host names
  {
    name: 'host name with a space',
    input: withHost('aix 01', aix01),
    message:
      'hosts["aix 01"]: is not a valid host name: may contain only letters, digits, ".", "_" and "-"; it contains a space',
  },
  {
    name: 'host name with ;',
    input: withHost('aix01;reboot', aix01),
    message:
      'hosts["aix01;reboot"]: is not a valid host name: may contain only letters, digits, ".", "_" and "-"; it contains ";"',
  },
  {
    name: 'host name with $()',
    input: withHost('$(reboot)', aix01),
    message:
      'hosts["$(reboot)"]: is not a valid host name: may contain only letters, digits, ".", "_" and "-"; it contains "$"',
  },
  {
    name: 'host name with a Cyrillic a',
    input: withHost('\u0430ix01', aix01),
    message:
      'hosts["\\u0430ix01"]: is not a valid host name: may contain only letters, digits, ".", "_" and "-"; it contains the non-ASCII character U+0430',
  },
  {
    name: 'host name of 64 characters',
    input: withHost('h'.repeat(64), aix01),
    message:
      'hosts["hhhhhhhhhhhhhhhhhhhhhhhhhhhh..." (64 characters)]: is not a valid host name: must be at most 63 characters (it has 64)',
  },
  {
    name: 'host name starting with .',
    input: withHost('.hidden', aix01),
    message:
      'hosts[".hidden"]: is not a valid host name: must start with a letter or digit',
  },
  {
    name: 'host name __proto__',
    input: { hosts: JSON.parse('{"__proto__": {}}') },
    message:
      'hosts.__proto__: is not a valid host name',
  },
  {
    name: 'host not an object',
    input: withHost('aix02', 'aix02'),
    message:
      'hosts.aix02 "aix02": must be an object describing the host ("address", "user", "os", "role", ...)',
  },
  {
    name: 'host with nothing in it',
    input: withHost('aix02', {}),
    message:
      'hosts.aix02.address: is required: the host name or IP address to connect to; hosts.aix02.user: is required: the login name (e.g. "root"); hosts.aix02.os: is required: the host\'s operating system (one of "aix", "linux"); hosts.aix02.role: is required: "source", "tape", or ["source", "tape"] for a host that is both; hosts.aix02.workFolder: is required: the staging folder on this host (e.g. "/home/mksysb"); hosts.aix02.key: is required: how the worker logs in, {"path": "/abs/id_ed25519"} or {"agent": "/run/ssh-agent.sock"}; hosts.aix02.hostKey: is required: the host\'s public key "TYPE BASE64" from /etc/ssh/ssh_host_ed25519_key.pub, so that the worker knows it talks to the right host',
  },
  {
    name: 'host field misspelt',
    input: withHost('aix02', { ...aix01, adress: '10.0.0.1' }),
    message:
      'hosts.aix02.adress: unknown field; did you mean "address"?',
  },
  // Address, port, user
  {
    name: 'address with a space',
    input: host({ address: '10.0.0.1 -o ProxyCommand=x' }),
    message:
      'hosts.aix01.address "10.0.0.1 -o ProxyCommand=x": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it contains a space',
  },
  {
    name: 'address with ;',
    input: host({ address: 'aix01;reboot' }),
    message:
      'hosts.aix01.address "aix01;reboot": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it contains ";"',
  },
  {
    name: 'address with $()',
    input: host({ address: '$(reboot).example.com' }),
    message:
      'hosts.aix01.address "$(reboot).example.com": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it contains "$"',
  },
  {
    name: 'address with a newline',
    input: host({ address: 'aix01\n' }),
    message:
      'hosts.aix01.address "aix01\\n": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it contains a newline',
  },
  {
    name: 'address a bad IPv4',
    input: host({ address: '999.1.1.1' }),
    message:
      'hosts.aix01.address "999.1.1.1": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it is not a valid IPv4 address',
  },
  {
    name: 'address with leading zeros',
    input: host({ address: '127.000.0.1' }),
    message:
      'hosts.aix01.address "127.000.0.1": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it is not a valid IPv4 address',
  },
  {
    name: 'address starting with -',
    input: host({ address: '-oProxyCommand' }),
    message:
      'hosts.aix01.address "-oProxyCommand": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); each dot-separated part must be 1 to 63 letters, digits or "-", not starting or ending with "-"',
  },
  {
    name: 'address a bad IPv6',
    input: host({ address: '::g' }),
    message:
      'hosts.aix01.address "::g": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it is not a valid IPv6 address',
  },
  {
    name: 'address empty',
    input: host({ address: '' }),
    message:
      'hosts.aix01.address "": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it is empty',
  },
  {
    name: 'address of 10 kB',
    input: host({ address: 'a'.repeat(10240) }),
    message:
      'hosts.aix01.address "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa..." (10240 characters): must be at most 253 characters (it has 10240)',
  },
  {
    name: 'port 0',
    input: host({ port: 0 }),
    message:
      'hosts.aix01.port 0: must be a whole number from 1 to 65535',
  },
  {
    name: 'port 65536',
    input: host({ port: 65536 }),
    message:
      'hosts.aix01.port 65536: must be a whole number from 1 to 65535',
  },
  {
    name: 'maxSessions 0',
    input: host({ maxSessions: 0 }),
    message:
      'hosts.aix01.maxSessions 0: must be a whole number from 1 to 1000',
  },
  {
    name: 'port quoted',
    input: host({ port: '22' }),
    message:
      'hosts.aix01.port "22": must be a whole number from 1 to 65535, written without quotes',
  },
  {
    name: 'user upper case',
    input: host({ user: 'Root' }),
    message:
      'hosts.aix01.user "Root": must be a login name: lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters',
  },
  {
    name: 'user with ;',
    input: host({ user: 'root;id' }),
    message:
      'hosts.aix01.user "root;id": must be a login name: lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters',
  },
  {
    name: 'user of 33 characters',
    input: host({ user: 'u'.repeat(33) }),
    message:
      'hosts.aix01.user "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu": must be a login name: lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters',
  },
  // OS and role
  {
    name: 'os upper case',
    input: host({ os: 'AIX' }),
    message:
      'hosts.aix01.os "AIX": must be one of "aix", "linux"',
  },
  {
    name: 'os missing',
    input: host({ os: undefined }),
    message:
      'hosts.aix01.os: is required: the host\'s operating system (one of "aix", "linux")',
  },
  {
    name: 'role both',
    input: host({ role: 'both' }),
    message:
      'hosts.aix01.role "both": must be "source", "tape", or ["source", "tape"] for a host that is both',
  },
  {
    name: 'role empty list',
    input: host({ role: [] }),
    message:
      'hosts.aix01.role: must be "source", "tape", or ["source", "tape"] for a host that is both',
  },
  {
    name: 'role repeated',
    input: host({ role: ['source', 'source'] }),
    message:
      'hosts.aix01.role: must be "source", "tape", or ["source", "tape"] for a host that is both',
  },
  {
    name: 'role a number',
    input: host({ role: 1 }),
    message:
      'hosts.aix01.role 1: must be "source", "tape", or ["source", "tape"] for a host that is both',
  },
  {
    name: 'role missing',
    input: host({ role: undefined }),
    message:
      'hosts.aix01.role: is required: "source", "tape", or ["source", "tape"] for a host that is both',
  },
  {
    name: 'source host on Linux',
    input: host({ os: 'linux' }),
    message:
      'hosts.aix01.os "linux": a source host must run AIX: mksysb exists only there',
  },
  // Work folder
  {
    name: 'workFolder relative',
    input: host({ workFolder: 'home/mksysb' }),
    message:
      'hosts.aix01.workFolder "home/mksysb": must be an absolute path starting with "/" (e.g. /home/mksysb)',
  },
  {
    name: 'workFolder /',
    input: host({ workFolder: '/' }),
    message:
      'hosts.aix01.workFolder "/": must not be "/" itself; name a staging folder such as /home/mksysb',
  },
  {
    name: 'workFolder with ..',
    input: host({ workFolder: '/home/../etc' }),
    message:
      'hosts.aix01.workFolder "/home/../etc": must not contain ".."',
  },
  {
    name: 'workFolder with ;',
    input: host({ workFolder: '/home/mksysb;reboot' }),
    message:
      'hosts.aix01.workFolder "/home/mksysb;reboot": may contain only letters, digits, ".", "_", "-" and "/"; it contains ";"',
  },
  // Keys
  {
    name: 'key missing',
    input: host({ key: undefined }),
    message:
      'hosts.aix01.key: is required: how the worker logs in, {"path": "/abs/id_ed25519"} or {"agent": "/run/ssh-agent.sock"}',
  },
  {
    name: 'key empty',
    input: host({ key: {} }),
    message:
      'hosts.aix01.key: must give either "path" (a private key file) or "agent" (an ssh-agent socket)',
  },
  {
    name: 'key with path and agent',
    input: host({ key: { path: '/k', agent: '/a.sock' } }),
    message:
      'hosts.aix01.key: must give either "path" or "agent", not both',
  },
  {
    name: 'key agent with passphraseEnv',
    input: host({ key: { agent: '/a.sock', passphraseEnv: 'PASS' } }),
    message:
      'hosts.aix01.key.passphraseEnv "PASS": goes with "path" only: an agent holds its keys unlocked',
  },
  {
    name: 'key path relative',
    input: host({ key: { path: 'id_ed25519' } }),
    message:
      'hosts.aix01.key.path "id_ed25519": must be an absolute path starting with "/"',
  },
  {
    name: 'key path with a newline',
    input: host({ key: { path: '/keys/id\n' } }),
    message:
      'hosts.aix01.key.path "/keys/id\\n": must not contain a newline',
  },
  {
    name: 'key passphraseEnv not a name',
    input: host({ key: { path: '/k', passphraseEnv: '1PASS' } }),
    message:
      'hosts.aix01.key.passphraseEnv "1PASS": must be the name of an environment variable: letters, digits and "_", not starting with a digit',
  },
  {
    name: 'key with a passphrase',
    input: host({ key: { path: '/k', passphrase: 'hunter2' } }),
    message:
      'hosts.aix01.key.passphrase: unknown field; secrets must not be written here: the worker keeps credentials (the inventory names a key file or agent, and an environment variable for a passphrase)',
  },
  {
    name: 'key a string',
    input: host({ key: '/root/.ssh/id_ed25519' }),
    message:
      'hosts.aix01.key "/root/.ssh/id_ed25519": must be an object such as {"path": "/abs/id_ed25519"} or {"agent": "/run/ssh-agent.sock"}',
  },
  // Host keys
  {
    name: 'hostKey missing',
    input: host({ hostKey: undefined }),
    message:
      'hosts.aix01.hostKey: is required: the host\'s public key "TYPE BASE64" from /etc/ssh/ssh_host_ed25519_key.pub, so that the worker knows it talks to the right host',
  },
  {
    name: 'hostKey only base64',
    input: host({ hostKey: KEYS.ed25519.split(' ')[1] }),
    message:
      'hosts.aix01.hostKey "AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddLgXB3hsSbMz..." (68 characters): must be a public host key "TYPE BASE64" as in /etc/ssh/ssh_host_ed25519_key.pub, with TYPE ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521',
  },
  {
    name: 'hostKey a known_hosts line',
    input: host({ hostKey: `[127.0.0.1]:40101 ${KEYS.ed25519}` }),
    message:
      'hosts.aix01.hostKey "[127.0.0.1]:40101 ssh-ed25519 AAAAC3NzaC1lZDI1NT..." (98 characters): must be a public host key "TYPE BASE64" as in /etc/ssh/ssh_host_ed25519_key.pub, with TYPE ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521; this looks like a known_hosts line: leave out the host name in front',
  },
  {
    name: 'hostKey of type DSA',
    input: host({ hostKey: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP' }),
    message:
      'hosts.aix01.hostKey "ssh-dss AAAAB3NzaC1kc3MAAACBAP": must be a public host key "TYPE BASE64" as in /etc/ssh/ssh_host_ed25519_key.pub, with TYPE ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521',
  },
  {
    name: 'hostKey cut short',
    input: host({ hostKey: KEYS.ed25519.slice(0, 50) }),
    message:
      'hosts.aix01.hostKey "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnddL": the key data has 38 characters but an ssh-ed25519 key has 68; it was cut or joined when copied',
  },
  {
    name: 'hostKey cut by 1',
    input: host({ hostKey: KEYS.ed25519.slice(0, -4) }),
    message:
      'hosts.aix01.hostKey "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnd..." (76 characters): the key data has 64 characters but an ssh-ed25519 key has 68; it was cut or joined when copied',
  },
  {
    name: 'hostKey type and data mismatched',
    input: host({ hostKey: `ssh-ed25519 ${KEYS.rsa.split(' ')[1]}` }),
    message:
      'hosts.aix01.hostKey "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQCnExOP..." (384 characters): the key data is not an ssh-ed25519 key; copy the whole line of the host\'s .pub file',
  },
  {
    name: 'hostKey not base64',
    input: host({ hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI$(reboot)' }),
    message:
      'hosts.aix01.hostKey "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI$(reboot)": the key data after "ssh-ed25519 " is not valid base64',
  },
  {
    name: 'hostKey with a newline',
    input: host({ hostKey: `${KEYS.ed25519}\n` }),
    message:
      'hosts.aix01.hostKey "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOHrlK7BBVnd..." (81 characters): must be a public host key "TYPE BASE64" as in /etc/ssh/ssh_host_ed25519_key.pub, with TYPE ssh-ed25519, ssh-rsa or ecdsa-sha2-nistp256/384/521; it contains a newline',
  },
  {
    name: 'hostKey rsa too short',
    input: host({ hostKey: 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCnExOPhnCkFnfWp3h6kJUgy5PpHJ4L' }),
    message:
      'hosts.aix01.hostKey "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCnExOPhnCk..." (68 characters): the key data is too short for an ssh-rsa key; it was cut when copied',
  },
  // Devices
  {
    name: 'devices on a source host',
    input: host({ devices: { rmt0: {} } }),
    message:
      'hosts.aix01.devices: only a host with role "tape" has tape devices',
  },
  {
    name: 'tape host without devices',
    input: tapeHost({ devices: undefined }),
    message:
      'hosts.tapesrv.devices: a tape host must list its tape devices, e.g. {"rmt0": {}}',
  },
  {
    name: 'tape host with no device',
    input: tapeHost({ devices: {} }),
    message:
      'hosts.tapesrv.devices: a tape host must list its tape devices, e.g. {"rmt0": {}}',
  },
  {
    name: 'device st0',
    input: tapeHost({ devices: { st0: {} } }),
    message:
      'hosts.tapesrv.devices.st0: is not a valid device name: st0 rewinds on close, so the four records cannot be written one after another; use the no-rewind device nst0',
  },
  {
    name: 'device with /dev/',
    input: tapeHost({ devices: { '/dev/rmt0': {} } }),
    message:
      'hosts.tapesrv.devices["/dev/rmt0"]: is not a valid device name: give the device name without /dev/ (e.g. rmt0)',
  },
  {
    name: 'device with ;',
    input: tapeHost({ devices: { 'rmt0;reboot': {} } }),
    message:
      'hosts.tapesrv.devices["rmt0;reboot"]: is not a valid device name: must be rmt followed by digits (e.g. rmt0), or nst followed by digits (e.g. nst0) on a Linux tape host',
  },
  {
    name: 'Linux device on an AIX host',
    input: tapeHost({ devices: { nst0: {} } }),
    message:
      'hosts.tapesrv.devices.nst0: is not a device name for this host: this host runs AIX, whose tape devices are named rmt followed by digits (e.g. rmt0)',
  },
  {
    name: 'AIX device on a Linux host',
    input: tapeHost({ os: 'linux', devices: { rmt0: {} } }),
    message:
      'hosts.tapesrv.devices.rmt0: is not a device name for this host: this host runs Linux, whose no-rewind tape devices are named nst followed by digits (e.g. nst0)',
  },
  {
    name: 'capacityBytes 0',
    input: tapeHost({ devices: { rmt0: { capacityBytes: 0 } } }),
    message:
      'hosts.tapesrv.devices.rmt0.capacityBytes 0: must be a whole number of bytes greater than 0',
  },
  {
    name: 'capacityBytes a fraction',
    input: tapeHost({ devices: { rmt0: { capacityBytes: 1.5 } } }),
    message:
      'hosts.tapesrv.devices.rmt0.capacityBytes 1.5: must be a whole number of bytes greater than 0',
  },
  {
    name: 'capacityBytes quoted',
    input: tapeHost({ devices: { rmt0: { capacityBytes: '4G' } } }),
    message:
      'hosts.tapesrv.devices.rmt0.capacityBytes "4G": must be a whole number of bytes greater than 0',
  },
  {
    name: 'device field misspelt',
    input: tapeHost({ devices: { rmt0: { capacity: 4 } } }),
    message:
      'hosts.tapesrv.devices.rmt0.capacity: unknown field; the fields are capacityBytes, autoloader, autoloaderWaitSeconds',
  },
  {
    name: 'autoloader of an unknown kind',
    input: tapeHost({ devices: { rmt0: { autoloader: 'random' } } }),
    message: 'hosts.tapesrv.devices.rmt0.autoloader "random": must be one of "sequential"',
  },
  {
    name: 'autoloader wait of no time',
    input: tapeHost({ devices: { rmt0: { autoloader: 'sequential', autoloaderWaitSeconds: 0 } } }),
    message: 'hosts.tapesrv.devices.rmt0.autoloaderWaitSeconds 0: must be a whole number from 1 to 86400',
  },
  // Direct pulls (pullFrom)
  {
    name: 'pullFrom on a source host',
    input: host({ pullFrom: { tapesrv: { identityFile: '/home/mksysb/.ssh/id_pull' } } }),
    message:
      'hosts.aix01.pullFrom: only a host with role "tape" pulls images from source hosts',
  },
  {
    name: 'pullFrom naming an unknown host',
    input: tapeHost({ pullFrom: { aix99: { identityFile: '/home/mksysb/.ssh/id_pull' } } }),
    message:
      'hosts.tapesrv.pullFrom.aix99: is not a host in this inventory',
  },
  {
    name: 'pullFrom naming a tape host',
    input: { hosts: { aix01, tape2: { ...tapesrv, hostKey: KEYS.rsa }, tapesrv: { ...tapesrv, pullFrom: { tape2: { identityFile: '/k/id' } } } } },
    message:
      'hosts.tapesrv.pullFrom.tape2: is not a host with role "source": a tape host pulls images only from source hosts',
  },
  {
    name: 'pullFrom naming the host itself',
    input: withHost('both', { ...tapesrv, role: ['source', 'tape'], pullFrom: { both: { identityFile: '/k/id' } } }),
    message:
      'hosts.both.pullFrom.both: is this host itself: a host reads its own files without a key',
  },
  {
    name: 'pullFrom with a relative identityFile',
    input: tapeHost({ pullFrom: { aix01: { identityFile: '.ssh/id_pull' } } }),
    message:
      'hosts.tapesrv.pullFrom.aix01.identityFile ".ssh/id_pull": must be an absolute path starting with "/" (e.g. /home/mksysb/.ssh/id_pull)',
  },
  {
    name: 'pullFrom without an identityFile',
    input: tapeHost({ pullFrom: { aix01: { address: '10.0.0.5' } } }),
    message:
      'hosts.tapesrv.pullFrom.aix01.identityFile: is required: the private key on the tape host that the source accepts (e.g. "/home/mksysb/.ssh/id_pull")',
  },
  {
    name: 'pullFrom identityFile with a space',
    input: tapeHost({ pullFrom: { aix01: { identityFile: '/root/my key' } } }),
    message:
      'hosts.tapesrv.pullFrom.aix01.identityFile "/root/my key": may contain only letters, digits, ".", "_", "-" and "/"; it contains a space',
  },
  {
    name: 'pullFrom identityFile a folder',
    input: tapeHost({ pullFrom: { aix01: { identityFile: '/root/.ssh/' } } }),
    message:
      'hosts.tapesrv.pullFrom.aix01.identityFile "/root/.ssh/": must name a file, not a folder',
  },
  {
    name: 'pullFrom with a bad address, port and user',
    input: tapeHost({ pullFrom: { aix01: { identityFile: '/k/id', address: 'a b', port: 0, user: 'Root' } } }),
    message:
      'hosts.tapesrv.pullFrom.aix01.address "a b": must be a host name (e.g. aix01.example.com) or an IP address (e.g. 10.1.2.3); it contains a space; ' +
      'hosts.tapesrv.pullFrom.aix01.port 0: must be a whole number from 1 to 65535; ' +
      'hosts.tapesrv.pullFrom.aix01.user "Root": must be a login name: lower-case letters, digits, "_" and "-", starting with a letter or "_", at most 32 characters',
  },
  {
    name: 'pullFrom with a private key in it',
    input: tapeHost({ pullFrom: { aix01: { identityFile: '/k/id', privateKey: 'x' } } }),
    message:
      'hosts.tapesrv.pullFrom.aix01.privateKey: unknown field; secrets must not be written here: the worker keeps credentials (the inventory names a key file or agent, and an environment variable for a passphrase)',
  },
  {
    name: 'pullFrom a list',
    input: tapeHost({ pullFrom: ['aix01'] }),
    message:
      'hosts.tapesrv.pullFrom (a list): must be an object of source hosts by name, such as {"aix01": {"identityFile": "/home/mksysb/.ssh/id_pull"}}',
  },
  {
    name: 'pullFrom entry a string',
    input: tapeHost({ pullFrom: { aix01: '/k/id' } }),
    message:
      'hosts.tapesrv.pullFrom.aix01 "/k/id": must be an object such as {"identityFile": "/home/mksysb/.ssh/id_pull"}',
  },
  // Groups
  {
    name: 'groups a list',
    input: { ...good(), groups: ['aix01'] },
    message:
      'groups (a list): must be an object of groups by name, such as {"nightly": ["aix01"]}',
  },
  {
    name: 'group name with ;',
    input: { ...good(), groups: { 'a;b': ['aix01'] } },
    message:
      'groups["a;b"]: is not a valid group name: may contain only letters, digits, ".", "_" and "-"; it contains ";"',
  },
  {
    name: 'group empty',
    input: { ...good(), groups: { nightly: [] } },
    message:
      'groups.nightly: must list at least one host',
  },
  {
    name: 'group a string',
    input: { ...good(), groups: { nightly: 'aix01' } },
    message:
      'groups.nightly "aix01": must be a list of source host names such as ["aix01", "aix02"]',
  },
  {
    name: 'group with an unknown host',
    input: { ...good(), groups: { nightly: ['aix01', 'aix99'] } },
    message:
      'groups.nightly[1] "aix99": is not a host in this inventory',
  },
  {
    name: 'group with a tape host',
    input: { ...good(), groups: { nightly: ['tapesrv'] } },
    message:
      'groups.nightly[0] "tapesrv": is not a host with role "source"',
  },
  {
    name: 'group with a host twice',
    input: { ...good(), groups: { nightly: ['aix01', 'aix01'] } },
    message:
      'groups.nightly[1] "aix01": is listed twice in this group',
  },
  {
    name: 'group member with ;',
    input: { ...good(), groups: { nightly: ['aix01;reboot'] } },
    message:
      'groups.nightly[0] "aix01;reboot": may contain only letters, digits, ".", "_" and "-"; it contains ";"',
  },
];

describe('parseInventory refuses bad inventories with the exact message', () => {
  for (const c of BAD) {
    it(c.name, () => {
      const err = refusal(c.input);
      assert.equal(err.message, `invalid inventory: ${c.message}`);
      assert.equal(err.name, 'InventoryValidationError');
      assert.match(err.message, /^[\x20-\x7e]*$/);
      for (const issue of err.issues) assert.ok(err.message.includes(issue.message));
    });
  }

  it('names the file when told where the inventory came from', () => {
    const err = refusal(host({ port: 0 }), '/etc/mksysb-tape/inventory.json');
    assert.equal(
      err.message,
      'invalid inventory /etc/mksysb-tape/inventory.json: hosts.aix01.port 0: must be a whole number from 1 to 65535',
    );
    assert.deepEqual(err.issues, [{ path: 'hosts.aix01.port', message: 'must be a whole number from 1 to 65535' }]);
  });
});

describe('parseInventory accepts good inventories', () => {
  it('accepts the inventory of the brief unchanged', () => {
    assert.deepEqual(parseInventory(good()), good());
  });

  it('defaults the port to 22 and groups to none', () => {
    const raw = good();
    delete raw.hosts.aix01.port;
    delete raw.groups;
    const inv = parseInventory(raw);
    assert.equal(inv.hosts.aix01?.port, 22);
    assert.equal(inv.hosts.aix01?.maxSessions, undefined, "absent: the pool uses OpenSSH's MaxSessions default");
    assert.equal(parseInventory({ ...raw, hosts: { ...raw.hosts, aix01: { ...raw.hosts.aix01, maxSessions: 4 } } }).hosts.aix01?.maxSessions, 4);
    assert.deepEqual(inv.groups, {});
  });

  it('accepts every supported host key type and drops a trailing comment', () => {
    for (const key of Object.values(KEYS)) {
      const inv = parseInventory(host({ hostKey: `${key} root@aix01 host key` }));
      assert.equal(inv.hosts.aix01?.hostKey, key);
      // ssh-keygen's .pub files end in a space when the comment is empty.
      assert.equal(parseInventory(host({ hostKey: `${key} ` })).hosts.aix01?.hostKey, key);
    }
  });

  it('has host key prefixes and lengths that match real keys', () => {
    for (const key of Object.values(KEYS)) {
      const [type, data] = key.split(' ') as [string, string];
      const blob = Buffer.from(data, 'base64');
      const nameLen = blob.readUInt32BE(0);
      assert.equal(blob.subarray(4, 4 + nameLen).toString(), type);
      const spec = HOST_KEY_TYPES[type]!;
      assert.ok(data.startsWith(spec.prefix), type);
      if (spec.length !== undefined) assert.equal(data.length, spec.length, type);
    }
    // Every accepted type's prefix is the base64 of its name as an SSH string.
    for (const [type, spec] of Object.entries(HOST_KEY_TYPES)) {
      const head = Buffer.concat([Buffer.from([0, 0, 0, type.length]), Buffer.from(type)]).toString('base64');
      assert.ok(head.startsWith(spec.prefix.slice(0, Math.floor((4 + type.length) / 3) * 4)), type);
    }
  });

  it('accepts host names, IPv4 and IPv6 addresses', () => {
    for (const address of ['aix01', 'aix01.example.com', 'aix01.example.com.', '10.1.2.3', '::1', 'fe80::1', '2001:db8::42']) {
      assert.equal(parseInventory(host({ address })).hosts.aix01?.address, address);
    }
  });

  it('accepts a host with both roles and a Linux tape host', () => {
    const raw = good();
    raw.hosts.both = { ...structuredClone(tapesrv), role: ['source', 'tape'], hostKey: KEYS.rsa };
    raw.hosts.lintape = { ...structuredClone(tapesrv), os: 'linux', devices: { nst0: {}, nst1: { capacityBytes: 1 } } };
    raw.groups.all = ['aix01', 'both'];
    const inv = parseInventory(raw);
    assert.ok(hostHasRole(inv.hosts.both!, 'source'));
    assert.ok(hostHasRole(inv.hosts.both!, 'tape'));
    assert.deepEqual(rolesOf(inv.hosts.tapesrv!.role), ['tape']);
    assert.deepEqual(Object.keys(inv.hosts.lintape!.devices ?? {}), ['nst0', 'nst1']);
  });

  it('accepts pullFrom on a tape host and settles the route from the source\'s own entry', () => {
    const inv = parseInventory(tapeHost({ pullFrom: { aix01: { identityFile: '/home/mksysb/.ssh/id_pull' } } }));
    assert.deepEqual(pullRoute(inv, 'tapesrv', 'aix01'), {
      address: '127.0.0.1',
      port: 40101,
      user: 'root',
      identityFile: '/home/mksysb/.ssh/id_pull',
      hostKey: KEYS.ed25519,
    });
    const over = parseInventory(tapeHost({ pullFrom: { aix01: { identityFile: '/k/id', address: '10.0.0.5', port: 2222, user: 'mksysb' } } }));
    assert.deepEqual(pullRoute(over, 'tapesrv', 'aix01'), { address: '10.0.0.5', port: 2222, user: 'mksysb', identityFile: '/k/id', hostKey: KEYS.ed25519 });
    assert.equal(pullRoute(parseInventory(good()), 'tapesrv', 'aix01'), undefined, 'no pullFrom: the images are relayed');
    assert.equal(pullRoute(over, 'aix01', 'tapesrv'), undefined);
    assert.equal(pullRoute(over, 'tapesrv', 'nosuch'), undefined);
  });

  it('accepts a key file without a passphrase variable', () => {
    const inv = parseInventory(host({ key: { path: '/root/.ssh/id_ed25519' } }));
    assert.deepEqual(inv.hosts.aix01?.key, { path: '/root/.ssh/id_ed25519' });
  });
});
