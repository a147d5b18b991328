/**
 * The tree walk shared by buildManifest and packImage: depth-first, root
 * first as ".", siblings sorted by raw name bytes (so two walks of equal
 * trees give equal orders, and hard-link sets get the same first path), names
 * read as Buffers so non-UTF-8 names survive, mount points recorded but not
 * entered (like `rsync -x`). Metadata calls are synchronous: one lstat is a
 * couple of microseconds, a promise round trip through the thread pool ten
 * times that; the walk yields to the event loop between entries instead.
 */
import fs, { type BigIntStats } from 'node:fs';
import { setImmediate as tick } from 'node:timers/promises';
import { dataSegments, lgetxattrs, splitdev } from './libc.ts';
import type { EntryType, ManifestEntry } from './manifest-codec.ts';
import { ImgsrvError } from '../core/errors.ts';

/** One path found by the walk, with its manifest entry minus content hash and sparse map. */
export interface WalkItem {
  rel: Buffer;
  abs: Buffer;
  st: BigIntStats;
  entry: ManifestEntry;
}

/** Walk options: crossMounts enters other file systems; onSkip hears about sockets and other unrecordable paths. */
export interface WalkOptions {
  crossMounts?: boolean;
  onSkip?: (rel: Buffer, why: string) => void;
}

const SLASH = Buffer.from('/');
const DOT = Buffer.from('.');

function typeOf(mode: number): EntryType | undefined {
  switch (mode & fs.constants.S_IFMT) {
    case fs.constants.S_IFREG: return 'file';
    case fs.constants.S_IFDIR: return 'dir';
    case fs.constants.S_IFLNK: return 'symlink';
    case fs.constants.S_IFCHR: return 'char';
    case fs.constants.S_IFBLK: return 'block';
    case fs.constants.S_IFIFO: return 'fifo';
    default: return undefined; // sockets (and anything newer)
  }
}

/** Join a relative path onto a parent; "." is the root. */
export function joinRel(parent: Buffer, name: Buffer): Buffer {
  return parent.equals(DOT) ? Buffer.from(name) : Buffer.concat([parent, SLASH, name]);
}

/** Walk `root`, yielding every path it records. */
export async function* walkTree(root: string, opts: WalkOptions = {}): AsyncGenerator<WalkItem> {
  const rootAbs = Buffer.from(root);
  const rootSt = fs.lstatSync(rootAbs, { bigint: true });
  if (!rootSt.isDirectory()) throw new ImgsrvError('IO', `${root} is not a directory`, { hint: 'pass the root of the tree to pack' });
  const links = new Map<string, Buffer>(); // "dev:ino" → first path of a hard-link set
  let lastTick = Date.now();

  const item = (rel: Buffer, abs: Buffer, st: BigIntStats): WalkItem | undefined => {
    const type = typeOf(Number(st.mode));
    if (!type) {
      opts.onSkip?.(rel, 'socket');
      return undefined;
    }
    const entry: ManifestEntry = { path: rel, type, mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs };
    if (type !== 'dir' && st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first) {
        entry.type = 'hardlink';
        entry.target = first;
        return { rel, abs, st, entry };
      }
      links.set(key, rel);
    }
    if (type === 'file') entry.size = Number(st.size);
    if (type === 'symlink') entry.target = fs.readlinkSync(abs, { encoding: 'buffer' });
    if (type === 'char' || type === 'block') entry.rdev = splitdev(st.rdev);
    const xattrs = lgetxattrs(abs);
    if (xattrs.size > 0) entry.xattrs = xattrs;
    return { rel, abs, st, entry };
  };

  const first = item(DOT, rootAbs, rootSt);
  if (first) yield first;
  // A stack of directories still being listed: children sorted, next index.
  const stack: Array<{ rel: Buffer; abs: Buffer; names: Buffer[]; i: number }> = [];
  const enter = (rel: Buffer, abs: Buffer): void => {
    const names = fs.readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare);
    stack.push({ rel, abs, names, i: 0 });
  };
  enter(DOT, rootAbs);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const name = top.names[top.i++];
    if (!name) {
      stack.pop();
      continue;
    }
    const rel = joinRel(top.rel, name);
    const abs = Buffer.concat([top.abs, SLASH, name]);
    let st: BigIntStats;
    try {
      st = fs.lstatSync(abs, { bigint: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // vanished since readdir
      throw err;
    }
    const it = item(rel, abs, st);
    if (!it) continue;
    yield it;
    if (it.entry.type === 'dir' && (opts.crossMounts || st.dev === rootSt.dev)) enter(rel, abs);
    if (Date.now() - lastTick > 50) {
      await tick();
      lastTick = Date.now();
    }
  }
}

const CHUNK = 1 << 20;

/**
 * Open a regular file for packing: its data segments when it has holes
 * (checked only when st_blocks says fewer bytes are allocated than its size),
 * and a reader of its data segments in chunks.
 */
export function openContent(item: WalkItem): { fd: number; sparse: Array<[number, number]> | undefined; close: () => void } {
  const fd = fs.openSync(item.abs, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  const size = Number(item.st.size);
  let sparse: Array<[number, number]> | undefined;
  if (size > 0 && item.st.blocks * 512n < item.st.size) {
    const segs = dataSegments(fd, size);
    const dataBytes = segs.reduce((n, [, len]) => n + len, 0);
    if (dataBytes < size) sparse = segs;
  }
  return { fd, sparse, close: () => fs.closeSync(fd) };
}

/** Read the segments of an open file in chunks of at most 1 MiB, failing if the file shrank. */
export function* readSegments(fd: number, segments: Array<[number, number]>, rel: Buffer): Generator<{ offset: number; data: Buffer }> {
  for (const [start, len] of segments) {
    let pos = start;
    const end = start + len;
    while (pos < end) {
      const want = Math.min(CHUNK, end - pos);
      const buf = Buffer.allocUnsafe(want);
      let got = 0;
      while (got < want) {
        const n = fs.readSync(fd, buf, got, want - got, pos + got);
        if (n === 0) throw new ImgsrvError('IO', `${rel.toString()} shrank while being read`, { hint: 'the tree changed during packing: pack a quiescent staging tree' });
        got += n;
      }
      yield { offset: pos, data: buf };
      pos += want;
    }
  }
}

/** Feeds a hash the logical content of a file given its data chunks in order: holes hash as zeros. */
export class HoleFillingHash {
  private pos = 0;
  private readonly update: (b: Buffer) => void;
  private static readonly zeros = Buffer.alloc(CHUNK);
  constructor(update: (b: Buffer) => void) {
    this.update = update;
  }
  /** Add the data found at `offset`. */
  add(offset: number, data: Buffer): void {
    this.fill(offset - this.pos);
    this.update(data);
    this.pos = offset + data.length;
  }
  /** Pad with zeros up to the file's size. */
  end(size: number): void {
    this.fill(size - this.pos);
    this.pos = size;
  }
  private fill(n: number): void {
    for (; n > 0; n -= CHUNK) this.update(n >= CHUNK ? HoleFillingHash.zeros : HoleFillingHash.zeros.subarray(0, n));
  }
}
