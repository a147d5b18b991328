// Pack → unpack fidelity on a tree with everything an OS image carries.
// Needs root (device nodes, owners, trusted.* and security.* xattrs) and the
// Debian packages acl (setfacl/getfacl), attr (getfattr), libcap2-bin (setcap).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, diffManifests, readManifestFile } from './manifest.ts';
import { packImage, type PackResult } from './pack.ts';
import { unpackImage } from './unpack.ts';
import { verifyImage } from './verify.ts';
import { buildFidelityTree, NON_UTF8_NAME, SPARSE_SIZE } from './testdata/fidelity-tree.ts';
import { tempDir, writeMeta } from './testdata/helpers.ts';

const isRoot = process.getuid?.() === 0;
const hasTools = ['setfacl', 'getfacl', 'getfattr', 'setcap'].every((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t}`]);
    return true;
  } catch {
    return false;
  }
});

describe.skipIf(!isRoot || !hasTools)('pack → unpack fidelity (needs root and acl, attr, libcap2-bin)', () => {
  let base: string;
  let src: string;
  let dst: string;
  let out: string;
  let packed: PackResult;
  const progress: Array<{ bytes: number; files: number }> = [];

  beforeAll(async () => {
    base = tempDir('fidelity');
    src = path.join(base, 'src');
    dst = path.join(base, 'dst');
    out = path.join(base, 'out');
    for (const d of [src, dst, out]) fs.mkdirSync(d);
    buildFidelityTree(src);
    packed = await packImage({ root: src, outDir: out, level: 3, onProgress: (p) => progress.push(p) });
    await unpackImage({ input: fs.createReadStream(packed.artifact, { highWaterMark: 64 * 1024 }), target: dst });
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  it('restores a tree whose manifest equals the source manifest', async () => {
    const a = await buildManifest(src);
    const b = await buildManifest(dst);
    expect(a.length).toBeGreaterThan(40);
    expect(diffManifests(a, b)).toEqual([]);
  });

  it('writes a manifest equal to a fresh walk of the source', async () => {
    const written = [];
    for await (const e of readManifestFile(packed.manifest)) written.push(e);
    expect(diffManifests(written, await buildManifest(src))).toEqual([]);
    expect(written.length).toBe(packed.files);
  });

  it('reports progress and sizes', () => {
    expect(progress.at(-1)).toEqual({ bytes: packed.rawBytes, files: packed.files });
    expect(packed.compressedBytes).toBe(fs.statSync(packed.artifact).size);
    // The sparse file's 62 MiB of holes are not stored.
    expect(packed.rawBytes).toBeLessThan(12 << 20);
  });

  it('agrees with independent tools (getfattr, getfacl, find, getcap, stat)', () => {
    const run = (cwd: string, cmd: string, args: string[]): string => execFileSync(cmd, args, { cwd, encoding: 'latin1' });
    for (const [cmd, args] of [
      ['getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.']],
      ['getfacl', ['-R', '-n', '-P', '.']],
      ['find', ['.', '-printf', '%P|%y|%m|%U|%G|%s|%T@|%n|%l\\n']],
      ['getcap', ['ping']],
    ] as const) {
      const a = run(src, cmd, [...args]).split('\n').sort();
      const b = run(dst, cmd, [...args]).split('\n').sort();
      expect(b, cmd).toEqual(a);
    }
    expect(run(dst, 'getcap', ['ping'])).toContain('cap_setuid,cap_net_raw=ep');
    expect(run(dst, 'stat', ['-c', '%a %u:%g', 'odd/suid']).trim()).toBe('4755 1234:5678');
    expect(run(dst, 'stat', ['-c', '%F %t:%T', 'dev/bigminor']).trim()).toBe('character special file 103:493e0');
  });

  it('keeps the sparse file sparse and hard links linked', () => {
    const st = fs.statSync(path.join(dst, 'sparse.img'));
    expect(st.size).toBe(SPARSE_SIZE);
    expect(st.blocks * 512).toBeLessThan(4 << 20); // 2 MiB of data, not 64
    const ino = fs.statSync(path.join(dst, 'etc/linked')).ino;
    expect(fs.statSync(path.join(dst, 'etc/linked2')).ino).toBe(ino);
    expect(fs.statSync(path.join(dst, 'odd/linked3')).ino).toBe(ino);
    expect(fs.statSync(path.join(dst, 'etc/linked')).nlink).toBe(3);
  });

  it('round-trips non-UTF-8 names byte for byte', () => {
    const names = fs.readdirSync(Buffer.from(dst), { encoding: 'buffer' });
    expect(names.some((n) => n.equals(NON_UTF8_NAME))).toBe(true);
    expect(fs.readlinkSync(Buffer.from(path.join(dst, 'to-bad')), { encoding: 'buffer' }).equals(NON_UTF8_NAME)).toBe(true);
  });

  it('verifies', async () => {
    writeMeta(out, packed);
    expect(await verifyImage(out)).toEqual({ ok: true, problems: [] });
  });
});
