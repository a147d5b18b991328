/**
 * Copy files from the build host into the initramfs the way the host has them:
 * every symlink met on the way (/lib -> usr/lib, mkfs.ext4 -> mke2fs,
 * libfoo.so.1 -> libfoo.so.1.2.3) becomes the same symlink, the file lands at
 * its real path, and ELF programs bring their shared libraries (found by
 * `ldd`, recursively, including the dynamic loader).
 */
import { execFile } from 'node:child_process';
import { lstat, readFile, readlink, readdir } from 'node:fs/promises';
import { isAbsolute, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { ImgsrvError } from '../../core/errors.ts';
import type { CpioEntry } from './cpio.ts';

const execFileP = promisify(execFile);

/**
 * The absolute library paths in `ldd` output: "libc.so.6 => /lib/…/libc.so.6 (0x…)"
 * and the loader's own line "/lib64/ld-linux-x86-64.so.2 (0x…)"; the vDSO has no file.
 * A "not found" line is returned in `missing`.
 */
export function parseLdd(text: string): { paths: string[]; missing: string[] } {
  const paths: string[] = [];
  const missing: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^(\S+) => not found$/.exec(line);
    if (m) {
      missing.push(m[1]!);
      continue;
    }
    m = /^\S+ => (\/\S+) \(0x[0-9a-f]+\)$/.exec(line) ?? /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (m) paths.push(m[1]!);
  }
  return { paths, missing };
}

/** The shared libraries of `file` and of those libraries, sorted; [] for static programs and non-ELF files. */
export async function sharedLibraries(file: string): Promise<string[]> {
  const seen = new Set<string>();
  const queue = [file];
  while (queue.length > 0) {
    const f = queue.shift()!;
    let out: string;
    try {
      out = (await execFileP('ldd', [f], { maxBuffer: 1 << 20 })).stdout;
    } catch (err) {
      // ldd exits 1 for static programs ("not a dynamic executable") and scripts: nothing to add.
      const stdout = (err as { stdout?: string }).stdout ?? '';
      if (/not found/.test(stdout)) out = stdout;
      else continue;
    }
    const { paths, missing } = parseLdd(out);
    if (missing.length > 0) {
      throw new ImgsrvError('NETBOOT_BUILD', `${f} needs ${missing.join(', ')}, not found on this host`, { hint: 'install the package that ships it' });
    }
    for (const p of paths) {
      if (!seen.has(p)) {
        seen.add(p);
        queue.push(p);
      }
    }
  }
  return [...seen].sort();
}

/** Collects initramfs entries taken from the host, once per path. */
export class HostFiles {
  readonly entries = new Map<string, CpioEntry>();
  readonly root: string;

  constructor(root = '/') {
    this.root = root;
  }

  /**
   * Add `path` (absolute, as seen on the host) with the symlinks leading to it,
   * following up to 40 links like the kernel; returns the real path.
   */
  async add(path: string, opts: { as?: string } = {}): Promise<string> {
    let todo = path.split('/').filter(Boolean);
    let cur = '';
    for (let hops = 0; todo.length > 0; ) {
      const name = todo.shift()!;
      if (name === '.') continue;
      if (name === '..') {
        cur = posix.dirname(cur === '' ? '/' : cur);
        if (cur === '/') cur = '';
        continue;
      }
      const next = `${cur}/${name}`;
      const st = await lstat(join(this.root, next)).catch((err: unknown) => {
        throw new ImgsrvError('NETBOOT_BUILD', `${path} not found on this host (${next} is missing)`, { cause: err });
      });
      if (st.isSymbolicLink()) {
        if (++hops > 40) throw new ImgsrvError('NETBOOT_BUILD', `too many symlinks resolving ${path}`);
        const target = await readlink(join(this.root, next));
        this.put({ path: next.slice(1), type: 'symlink', mode: 0o777, target });
        todo = [...target.split('/').filter(Boolean), ...todo];
        if (isAbsolute(target)) cur = '';
        continue;
      }
      cur = next;
      if (todo.length === 0 && !st.isDirectory()) {
        const dest = opts.as ?? cur.slice(1);
        this.put({ path: dest, type: 'file', mode: st.mode & 0o7777, data: await readFile(join(this.root, cur)) });
      }
    }
    return cur;
  }

  /** Add an ELF program (or library) and all its shared libraries; `as` ships the program under another path. */
  async addProgram(path: string, opts: { as?: string } = {}): Promise<void> {
    await this.add(path, opts);
    for (const lib of await sharedLibraries(join(this.root, path))) await this.add(lib);
  }

  /** Add a directory tree: files, symlinks and subdirectories, in name order; `filter` skips files. */
  async addTree(dir: string, filter: (name: string) => boolean = () => true): Promise<void> {
    const real = await this.add(dir);
    for (const e of (await readdir(join(this.root, real), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = `${real}/${e.name}`;
      if (e.isDirectory()) await this.addTree(p, filter);
      else if (filter(e.name)) await this.add(p); // data (grub modules, c32 files): programs go through addProgram
    }
  }

  private put(e: CpioEntry): void {
    const have = this.entries.get(e.path);
    if (have && (have.type !== e.type || have.target !== e.target)) {
      throw new ImgsrvError('NETBOOT_BUILD', `initramfs path ${e.path} wanted as two different things`);
    }
    this.entries.set(e.path, e);
  }
}

