/** dd's operands as AIX dd (strict: unknown operands and conversions refused) or GNU dd on a Linux host reads them. */
import { err, Exit } from './common';
import type { HostOs } from '../../src/schema/tape-rules';

const AIX_KEYS = ['if', 'of', 'ibs', 'obs', 'bs', 'cbs', 'skip', 'seek', 'count', 'conv', 'files', 'fskip'];
const AIX_CONV = ['ascii', 'ebcdic', 'ibm', 'block', 'unblock', 'lcase', 'ucase', 'swab', 'noerror', 'notrunc', 'sync', 'iblock', 'oblock'];

export function parseNumber(s: string, gnu: boolean): number | undefined {
  const mult: Record<string, number> = gnu
    ? { '': 1, c: 1, w: 2, b: 512, kB: 1000, K: 1024, k: 1024, KiB: 1024, MB: 1e6, M: 1 << 20, MiB: 1 << 20, GB: 1e9, G: 1 << 30, GiB: 1 << 30 }
    : { '': 1, w: 2, b: 512, k: 1024 };
  let total = 1;
  for (const part of s.split('x')) {
    const m = /^(\d+)([A-Za-z]*)$/.exec(part);
    if (!m || mult[m[2]!] === undefined) return undefined;
    total *= Number(m[1]) * mult[m[2]!]!;
  }
  return total;
}

export interface Ops {
  if?: string;
  of?: string;
  ibs?: number;
  obs?: number;
  bs?: number;
  skip: number;
  seek: number;
  count?: number;
  conv: Set<string>;
}

function usage(os: HostOs, msg: string): never {
  if (os === 'aix') {
    err(`dd: ${msg}\nUsage: dd [if=InputFile] [of=OutputFile] [cbs=Number] [fskip=Number] [skip=Number]\n          [seek=Number] [count=Number] [bs=Number] [span=yes|no] [ibs=Number]\n          [obs=Number] [files=Number] [conv=[ascii][,ebcdic][,ibm][,block][,unblock]\n          [,lcase][,ucase][,swab][,noerror][,notrunc][,sync]]\n`);
    throw new Exit(2, { refused: msg });
  }
  err(`dd: ${msg}\nTry 'dd --help' for more information.\n`);
  throw new Exit(1, { refused: msg });
}

export function parseOps(args: string[], os: HostOs): Ops {
  const o: Ops = { skip: 0, seek: 0, conv: new Set() };
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq < 0) usage(os, os === 'aix' ? `Not a recognized flag: ${a}` : `unrecognized operand '${a}'`);
    const k = a.slice(0, eq);
    const v = a.slice(eq + 1);
    if (os === 'aix' && !AIX_KEYS.includes(k)) usage(os, `Not a recognized flag: ${a}`);
    const num = (): number => {
      const n = parseNumber(v, os === 'linux');
      if (n === undefined) usage(os, os === 'aix' ? `0511-049 The number ${v} is not valid.` : `invalid number: '${v}'`);
      return n;
    };
    switch (k) {
      case 'if':
        o.if = v;
        break;
      case 'of':
        o.of = v;
        break;
      case 'ibs':
        o.ibs = num();
        break;
      case 'obs':
        o.obs = num();
        break;
      case 'bs':
        o.bs = num();
        break;
      case 'skip':
        o.skip = num();
        break;
      case 'seek':
        o.seek = num();
        break;
      case 'count':
        o.count = num();
        break;
      case 'conv':
        for (const c of v.split(',')) {
          if (os === 'aix' && !AIX_CONV.includes(c)) usage(os, `Not a recognized conversion: conv=${c}`);
          o.conv.add(c);
        }
        break;
      default:
        break; // GNU operands (status, iflag, oflag, ...) on Linux, cbs/files/fskip: accepted, ignored for tapes
    }
  }
  for (const n of [o.bs, o.ibs, o.obs]) if (n === 0) usage(os, os === 'aix' ? 'The block size is not valid.' : 'invalid number: 0');
  return o;
}
