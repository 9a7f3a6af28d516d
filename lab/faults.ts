/**
 * Fault specs (`lab fault HOST SPEC`) and the per-host fault store (`/var/lab/faults.json` inside the host).
 *
 *   write-fail file=K [nth=N] [device=rmt0] [always]   the N-th write() (default 1st) of one dd to tape file K fails (EIO)
 *   eom bytes=N [device=rmt0] [always]                 end of medium at cartridge position N (AWS file bytes)
 *   drop-connection after=N [command=cat|tail|dd] [always]  after N bytes pass through the command, the SSH
 *                                                      connection of that session is killed (default: any of the three)
 *   exit command=NAME [code=N] [message="..."] [always]     NAME prints message on stderr and exits with code (default 1)
 *   hang command=NAME [always]                         NAME never finishes (until killed)
 *   stall seconds=S [op=read|write] [skip=K] [device=rmt0] [always]
 *                                                      the next dd on the drive (reading or writing it, after K such
 *                                                      dd's that are let through) waits S seconds (1.5: fractions too) before it opens it
 *   no-tape [device=rmt0]                              no cartridge loaded (stays until cleared)
 *   pause-mksysb at=N                                  mksysb stops once its image holds N bytes and goes on when the
 *                                                      fault is cleared (stays until cleared)
 *   pause-tape file=K at=N [device=rmt0]               the first dd that writes tape file K past N bytes stops there,
 *                                                      the drive open, and goes on when the fault is cleared; later
 *                                                      dd's pass (one hold per fault; stays until cleared)
 *
 * A fault is removed when it fires unless `always` is given; `clearFaults` removes them all.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lock } from './drive-state';

export type Fault =
  | { id: number; kind: 'write-fail'; file: number; nth: number; device?: string; always: boolean }
  | { id: number; kind: 'eom'; bytes: number; device?: string; always: boolean }
  | { id: number; kind: 'drop-connection'; after: number; command?: string; always: boolean }
  | { id: number; kind: 'exit'; command: string; code: number; message?: string; always: boolean }
  | { id: number; kind: 'hang'; command: string; always: boolean }
  | { id: number; kind: 'stall'; seconds: number; op?: 'read' | 'write'; skip: number; device?: string; always: boolean }
  | { id: number; kind: 'no-tape'; device?: string; always: boolean }
  | { id: number; kind: 'pause-mksysb'; at: number; always: boolean }
  | { id: number; kind: 'pause-tape'; file: number; at: number; device?: string; always: boolean; heldBy?: number };

export type FaultKind = Fault['kind'];

export function tokenize(spec: string): string[] {
  const out: string[] = [];
  const re = /\s*([^\s"'=]+(?:=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*)))?)/y;
  let m: RegExpExecArray | null;
  let rest = spec.trim();
  while (rest.length) {
    re.lastIndex = 0;
    m = re.exec(rest);
    if (!m) throw new Error(`cannot parse fault spec near: ${rest}`);
    const tok = m[1]!;
    const eq = tok.indexOf('=');
    if (eq >= 0) {
      const key = tok.slice(0, eq);
      const val = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? m[4] ?? '');
      out.push(`${key}=${val}`);
    } else out.push(tok);
    rest = rest.slice(m[0].length).trim();
  }
  return out;
}

function int(v: string | undefined, name: string, min = 0): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new Error(`fault: ${name}= needs a whole number`);
  const n = Number(v);
  if (n < min) throw new Error(`fault: ${name}= must be at least ${min}`);
  return n;
}

/** Parses a SPEC into a fault (id 0; the store assigns ids). Throws with a clear message on bad input. */
export function parseFaultSpec(spec: string): Fault {
  const [kind, ...rest] = tokenize(spec);
  const kv: Record<string, string> = {};
  let always = false;
  for (const t of rest) {
    if (t === 'always') always = true;
    else if (t === 'once') always = false;
    else if (t.includes('=')) kv[t.slice(0, t.indexOf('='))] = t.slice(t.indexOf('=') + 1);
    else throw new Error(`fault: unexpected word "${t}"`);
  }
  const allowed = (...keys: string[]): void => {
    for (const k of Object.keys(kv)) if (!keys.includes(k)) throw new Error(`fault ${kind}: unknown key ${k}=`);
  };
  switch (kind) {
    case 'write-fail':
      allowed('file', 'nth', 'device');
      return { id: 0, kind, file: int(kv.file, 'file', 1), nth: kv.nth ? int(kv.nth, 'nth', 1) : 1, device: kv.device, always };
    case 'eom':
      allowed('bytes', 'device');
      return { id: 0, kind, bytes: int(kv.bytes, 'bytes'), device: kv.device, always };
    case 'drop-connection':
      allowed('after', 'command');
      if (kv.command && !['cat', 'tail', 'dd'].includes(kv.command)) {
        throw new Error('fault drop-connection: command= must be cat, tail or dd');
      }
      return { id: 0, kind, after: int(kv.after, 'after'), command: kv.command, always };
    case 'exit':
      allowed('command', 'code', 'message');
      if (!kv.command) throw new Error('fault exit: command= is required');
      return { id: 0, kind, command: kv.command, code: kv.code ? int(kv.code, 'code', 1) : 1, message: kv.message, always };
    case 'hang':
      allowed('command');
      if (!kv.command) throw new Error('fault hang: command= is required');
      return { id: 0, kind, command: kv.command, always };
    case 'stall':
      allowed('seconds', 'op', 'skip', 'device');
      if (kv.op !== undefined && kv.op !== 'read' && kv.op !== 'write') throw new Error('fault stall: op= must be read or write');
      if (kv.seconds === undefined || !/^\d+(\.\d+)?$/.test(kv.seconds) || Number(kv.seconds) <= 0) {
        throw new Error('fault stall: seconds= needs a number above 0 (e.g. 1.5)');
      }
      return { id: 0, kind, seconds: Number(kv.seconds), op: kv.op, skip: kv.skip ? int(kv.skip, 'skip') : 0, device: kv.device, always };
    case 'no-tape':
      allowed('device');
      return { id: 0, kind, device: kv.device, always: true };
    case 'pause-mksysb':
      allowed('at');
      return { id: 0, kind, at: int(kv.at, 'at'), always: true };
    case 'pause-tape':
      allowed('file', 'at', 'device');
      if (kv.file === undefined) throw new Error('fault pause-tape: file= is required');
      return { id: 0, kind, file: int(kv.file, 'file', 1), at: int(kv.at, 'at'), device: kv.device, always: true };
    default:
      throw new Error(`unknown fault kind "${kind ?? ''}" (write-fail, eom, drop-connection, exit, hang, stall, no-tape, pause-mksysb, pause-tape)`);
  }
}

/** Commands whose POSIX wrappers must go through the fault-aware path while this fault is armed. */
export function armedCommands(f: Fault): string[] {
  switch (f.kind) {
    case 'drop-connection':
      return f.command ? [f.command] : ['cat', 'tail', 'dd'];
    case 'exit':
    case 'hang':
      return [f.command];
    default:
      return [];
  }
}

export class FaultStore {
  constructor(readonly varDir: string) {}

  private get file(): string {
    return path.join(this.varDir, 'faults.json');
  }

  list(): Fault[] {
    try {
      return JSON.parse(fs.readFileSync(this.file, 'utf8')) as Fault[];
    } catch {
      return [];
    }
  }

  private save(faults: Fault[]): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(faults, null, 1));
    fs.renameSync(tmp, this.file);
    const armed = path.join(this.varDir, 'armed');
    fs.mkdirSync(armed, { recursive: true });
    const want = new Set(faults.flatMap(armedCommands));
    for (const f of fs.readdirSync(armed)) if (!want.has(f)) fs.rmSync(path.join(armed, f), { force: true });
    for (const c of want) fs.writeFileSync(path.join(armed, c), '');
  }

  private locked<T>(fn: () => T): T {
    const unlock = lock(path.join(this.varDir, 'faults.lock'));
    try {
      return fn();
    } finally {
      unlock();
    }
  }

  add(f: Fault): Fault {
    return this.locked(() => {
      const all = this.list();
      const id = all.reduce((m, x) => Math.max(m, x.id), 0) + 1;
      const nf = { ...f, id };
      this.save([...all, nf]);
      return nf;
    });
  }

  clear(): void {
    this.locked(() => this.save([]));
  }

  /** Takes a fault for one firing: true for an `always` fault or when this call removed it; false when another took it. */
  claim(f: Fault): boolean {
    if (f.always) return true;
    return this.locked(() => {
      const all = this.list();
      if (!all.some((x) => x.id === f.id)) return false;
      this.save(all.filter((x) => x.id !== f.id));
      return true;
    });
  }

  /**
   * One more of the occasions a `skip=K` fault lets through: true (and K lowered by one) while K > 0, false when the
   * fault is due now.
   */
  letThrough(f: Extract<Fault, { kind: 'stall' }>): boolean {
    return this.locked(() => {
      const all = this.list();
      const cur = all.find((x): x is typeof f => x.id === f.id && x.kind === 'stall');
      if (!cur || cur.skip === 0) return false;
      this.save(all.map((x) => (x.id === f.id ? { ...cur, skip: cur.skip - 1 } : x)));
      return true;
    });
  }

  /** Takes a pause-tape fault for this process: false when another process holds it already (or it is gone). */
  hold(f: Extract<Fault, { kind: 'pause-tape' }>): boolean {
    return this.locked(() => {
      const all = this.list();
      const cur = all.find((x) => x.id === f.id);
      if (!cur || cur.kind !== 'pause-tape' || cur.heldBy !== undefined) return false;
      this.save(all.map((x) => (x.id === f.id ? { ...cur, heldBy: process.pid } : x)));
      return true;
    });
  }

  has(id: number): boolean {
    return this.list().some((x) => x.id === id);
  }

  /** Marks a fault as fired: removes it unless `always`. */
  fired(f: Fault): void {
    if (f.always) return;
    this.locked(() => this.save(this.list().filter((x) => x.id !== f.id)));
  }
}
