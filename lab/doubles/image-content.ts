/**
 * What the source-host doubles put in their images: image.data and bosinst.data, the files of mkinsttape's archive,
 * the synthetic rootvg, the exclude patterns. The same host seed gives the same bytes (a fixed date, a seeded PRNG).
 */
import { buildBff } from '../bff';
import { config } from './common';

/** Fixed backup date (deterministic images): 2024-01-01T00:00:00Z. */
export const IMAGE_DATE = 1704067200;

function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h || 1;
}

/** Deterministic pseudo-random bytes (xorshift32) for a seed. */
export function prngBytes(seed: string, n: number): Buffer {
  const b = Buffer.allocUnsafe(n + 3);
  let x = hash32(seed);
  for (let i = 0; i < n; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b.subarray(0, n);
}

export function imageData(host = config().name): string {
  return [
    'image_data:',
    '\tIMAGE_TYPE= bff',
    '\tDATE_TIME= Mon Jan  1 00:00:00 UTC 2024',
    '\tUNAME_INFO= AIX ' + host + ' 2 7 00C0FFEE4C00',
    '\tPRODUCT_TAPE= no',
    '\tUSERVG_LIST=',
    '\tPLATFORM= chrp',
    '\tOSLEVEL= 7.2.5.0',
    '\tCPU_ID= 00C0FFEE4C00',
    'logical_volume_policy:',
    '\tSHRINK= no',
    '\tEXACT_FIT= no',
    'vg_data:',
    '\tVGNAME= rootvg',
    '\tPPSIZE= 128',
    '\tVARYON= yes',
    '',
  ].join('\n');
}

function bosinstData(): string {
  return 'control_flow:\n\tCONSOLE = Default\n\tINSTALL_METHOD = overwrite\n\tPROMPT = yes\n\tEXISTING_SYSTEM_OVERWRITE = yes\n' +
    'target_disk_data:\n\tHDISKNAME = hdisk0\nlocale:\n\tBOSINST_LANG = en_US\n';
}

/** What mkinsttape puts in its archive, in order, for a host (exported so tests can compare other readers with it). */
export function mkinsttapeFiles(
  tapeblksz: Buffer | undefined,
  host: { name: string; seed: string } = config(),
): Array<{ meta: { name: string; mode: number; mtime: number }; data: Buffer }> {
  const files: Array<{ meta: { name: string; mode?: number }; data: Buffer }> = [
    { meta: { name: './image.data' }, data: Buffer.from(imageData(host.name)) },
    { meta: { name: './bosinst.data' }, data: Buffer.from(bosinstData()) },
  ];
  if (tapeblksz) files.push({ meta: { name: './tapeblksz' }, data: tapeblksz });
  files.push(
    { meta: { name: './usr/lpp/bosinst/tape/tapefiles1' }, data: Buffer.from('/usr/lib/drivers/tape\n/usr/lib/drivers/Atape\n') },
    { meta: { name: './usr/lib/drivers/tape', mode: 0o100555 }, data: prngBytes(`${host.seed}/tape-driver`, 24_000) },
    { meta: { name: './usr/lib/drivers/Atape', mode: 0o100555 }, data: prngBytes(`${host.seed}/atape`, 40_000) },
  );
  return files.map((f) => ({ meta: { mode: 0o100644, ...f.meta, mtime: IMAGE_DATE }, data: f.data }));
}

export function mkinsttapeArchive(tapeblksz: Buffer | undefined): Buffer {
  return buildBff(mkinsttapeFiles(tapeblksz), { date: IMAGE_DATE });
}

export interface RootvgFile {
  name: string;
  mode: number;
  size: number;
  data: (seed: string) => Buffer;
}

/** The synthetic rootvg: small system files, a /tmp scratch file and data files up to about totalBytes. */
export function rootvgFiles(totalBytes: number, hostName = config().name): RootvgFile[] {
  const text = (s: string) => ({ size: Buffer.byteLength(s), data: () => Buffer.from(s) });
  const dir = (name: string): RootvgFile => ({ name, mode: 0o40755, size: 0, data: () => Buffer.alloc(0) });
  const files: RootvgFile[] = [
    { name: './bosinst.data', mode: 0o100644, ...text(bosinstData()) },
    { name: './image.data', mode: 0o100644, ...text(imageData(hostName)) },
    dir('./etc'),
    { name: './etc/hosts', mode: 0o100644, ...text(`127.0.0.1 loopback localhost\n`) },
    { name: './etc/passwd', mode: 0o100644, ...text('root:!:0:0::/:/usr/bin/ksh\n') },
    dir('./tmp'),
    dir('./tmp/vgdata'),
    dir('./tmp/vgdata/rootvg'),
    { name: './tmp/vgdata/rootvg/rootvg.data', mode: 0o100644, ...text('vg_data:\n\tVGNAME= rootvg\n') },
    dir('./home'),
    dir('./usr'),
    dir('./usr/lib'),
    dir('./usr/lib/lab'),
  ];
  const scratch = Math.max(4096, Math.floor(totalBytes / 20));
  files.push({ name: './tmp/scratch.dat', mode: 0o100644, size: scratch, data: (seed) => prngBytes(`${seed}/scratch`, scratch) });
  files.push({ name: './home/lab/notes.txt', mode: 0o100644, ...text('lab user data\n') });
  let left = totalBytes - scratch - 8192;
  const CHUNK = 1 << 20;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(CHUNK, left);
    const name = `./usr/lib/lab/data.${String(i).padStart(5, '0')}`;
    files.push({
      name,
      mode: 0o100644,
      size,
      data: (seed) => {
        const base = baseBlock(seed);
        const b = Buffer.allocUnsafe(size);
        const rot = (i * 4099) % CHUNK;
        const first = Math.min(size, CHUNK - rot);
        base.copy(b, 0, rot, rot + first);
        if (first < size) base.copy(b, first, 0, size - first);
        b.write(name.padEnd(32, ' '), 0);
        return b;
      },
    });
    left -= size + 128;
  }
  return files;
}

let base: { seed: string; b: Buffer } | undefined;
function baseBlock(seed: string): Buffer {
  if (base?.seed !== seed) base = { seed, b: prngBytes(`${seed}/rootvg`, 1 << 20) };
  return base.b;
}

/** The patterns of an /etc/exclude.rootvg text: one regular expression a line, # comments. */
export function excludePatternsFrom(txt: string): RegExp[] {
  return txt
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => new RegExp(l));
}
