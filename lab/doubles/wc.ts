/**
 * AIX's `wc [-c | -m] [-lw] [-k] [FILE ...]`. It reads every byte of its input, files and standard input alike:
 * AIX's wc.c counts in its read loop and has no fstat shortcut (AIX-TAPE.md, "AIX userland"), so `wc -c < FILE` on a
 * 100 GB image reads 100 GB. GNU wc, which the lab would otherwise use, answers `-c` from fstat and hides that cost;
 * this double pays it and logs it as `bytesRead`, so tests can see what a command line makes AIX read.
 */
import * as fs from 'node:fs';
import { err, log, out, readSome } from './common';

/** Read size: the cost to model is reading the bytes, not a system call per AIX BUFSIZ. */
const CHUNK = 1 << 20;

interface Counts {
  lines: number;
  words: number;
  bytes: number;
}

/** AIX wc.c's word separators in the C locale: HT, LF, VT, FF, CR and space. */
function isSpace(c: number): boolean {
  return (c >= 9 && c <= 13) || c === 32;
}

function count(fd: number, lines: boolean, words: boolean): Counts {
  const buf = Buffer.allocUnsafe(CHUNK);
  const c: Counts = { lines: 0, words: 0, bytes: 0 };
  let inWord = false;
  for (;;) {
    const n = readSome(fd, buf);
    if (n <= 0) break;
    c.bytes += n;
    if (words) {
      for (let i = 0; i < n; i++) {
        const b = buf[i]!;
        if (!isSpace(b)) {
          if (!inWord) {
            c.words++;
            inWord = true;
          }
        } else {
          inWord = false;
          if (b === 10) c.lines++;
        }
      }
    } else if (lines) {
      for (let i = buf.indexOf(10, 0); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) c.lines++;
    }
  }
  return c;
}

export function wc(args: string[]): number {
  const flags = new Set<string>();
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (const f of a.slice(1)) {
      if (!'cklmw'.includes(f)) return usage(args);
      flags.add(f);
    }
  }
  if (flags.has('c') && flags.has('m')) return usage(args);
  const files = args.slice(i);
  const all = !flags.has('l') && !flags.has('w') && !flags.has('c') && !flags.has('m');
  const wantLines = all || flags.has('l');
  const wantWords = all || flags.has('w');
  // As wc.c's wcp(): each count as " %7ld", in the order lines, words, bytes.
  const show = (c: Counts): string =>
    [wantLines ? c.lines : null, wantWords ? c.words : null, all || flags.has('c') || flags.has('m') ? c.bytes : null]
      .filter((v): v is number => v !== null)
      .map((v) => ' ' + String(v).padStart(7))
      .join('');
  const total: Counts = { lines: 0, words: 0, bytes: 0 };
  let opened = 0;
  let status = 0;
  const one = (fd: number, name: string | undefined) => {
    const c = count(fd, wantLines, wantWords);
    total.lines += c.lines;
    total.words += c.words;
    total.bytes += c.bytes;
    out(show(c) + (name !== undefined ? ` ${name}\n` : '\n'));
  };
  try {
    if (files.length === 0) one(0, undefined);
    for (const f of files) {
      let fd: number;
      try {
        fd = fs.openSync(f, 'r');
      } catch {
        err(`wc: 0653-755 Cannot open ${f}.\n`);
        status = 2;
        continue;
      }
      opened++;
      try {
        one(fd, f);
      } catch (e) {
        // A directory opens but does not read on AIX either.
        err(`wc: ${f}: ${(e as NodeJS.ErrnoException).code === 'EISDIR' ? 'The specified path is a directory.' : String(e)}\n`);
        status = 2;
      } finally {
        fs.closeSync(fd);
      }
    }
    if (opened >= 2) out(show(total) + ' total\n');
  } finally {
    log('wc', args, status, { bytesRead: total.bytes });
  }
  return status;
}

function usage(args: string[]): number {
  err('Usage: wc [-c | -m][-lw] [File ...]\n       wc -k [-c [-lw]] [File ...]\n');
  log('wc', args, 2, { bytesRead: 0 });
  return 2;
}
