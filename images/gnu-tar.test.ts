// An image is a standard tar: GNU tar restores it exactly as imgsrv does
// (xattrs, capabilities, POSIX ACLs, hard links, sparse files, devices, odd
// and long names), and imgsrv restores what GNU tar writes. Needs root and the
// Debian packages tar, zstd, acl (setfacl/getfacl), attr (getfattr) and
// libcap2-bin (setcap/getcap).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManifest, diffManifests } from './manifest.ts';
import { packImage, type PackResult } from './pack.ts';
import { unpackImage } from './unpack.ts';
import { buildFidelityTree, NON_UTF8_NAME, SPARSE_SIZE } from './testdata/fidelity-tree.ts';
import { tempDir } from './testdata/helpers.ts';

const isRoot = process.getuid?.() === 0;
const hasTools = ['tar', 'zstd', 'setfacl', 'getfacl', 'getfattr', 'setcap', 'getcap'].every((t) => {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', t]);
    return true;
  } catch {
    return false;
  }
});

// What GNU tar 1.34 (Debian 12) says while restoring exactly: it does not know
// the POSIX `hdrcharset` keyword (warned once per non-UTF-8 name, whose raw
// bytes it restores all the same), and it remarks on every time before 1970.
const KNOWN_WARNINGS = [/^tar: Ignoring unknown extended header keyword 'hdrcharset'$/, /^tar: .*: implausibly old time stamp /];

/** Run `first | second` (argument arrays, no shell); resolves with both exit codes and their stderr. */
function pipe2(first: [string, string[]], second: [string, string[]]): Promise<{ codes: Array<number | null>; stderr: string }> {
  return new Promise((resolve, reject) => {
    const a = spawn(first[0], first[1], { stdio: ['ignore', 'pipe', 'pipe'] });
    const b = spawn(second[0], second[1], { stdio: ['pipe', 'ignore', 'pipe'] });
    a.stdout.pipe(b.stdin);
    let err = '';
    a.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
    b.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
    const codes: Array<number | null> = [];
    const done = (code: number | null): void => {
      codes.push(code);
      if (codes.length === 2) resolve({ codes, stderr: err });
    };
    a.on('error', reject);
    b.on('error', reject);
    a.on('close', done);
    b.on('close', done);
  });
}

/** Differences an independent tool sees between two trees (its sorted output lines). */
function toolDiffs(src: string, dst: string): string[] {
  const out: string[] = [];
  const run = (cwd: string, cmd: string, args: readonly string[]): string[] => execFileSync(cmd, args, { cwd, encoding: 'latin1' }).split('\n').sort();
  for (const [cmd, args] of [
    ['getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.']],
    ['getfacl', ['-R', '-n', '-P', '.']],
    ['find', ['.', '-printf', '%P|%y|%m|%U|%G|%s|%T@|%n|%l|%D:%i\\n']],
    ['getcap', ['-r', '.']],
  ] as const) {
    const a = run(src, cmd, args);
    const b = new Set(run(dst, cmd, args));
    // find's %D:%i (device:inode) differs between trees by nature; compare hard-link groups instead.
    if (cmd === 'find') {
      out.push(...linkGroupDiffs(a, [...b]));
      const strip = (l: string): string => l.replace(/\|[^|]*$/, '');
      const bs = new Set([...b].map(strip));
      for (const l of a) if (!bs.has(strip(l))) out.push(`find: ${l}`);
      continue;
    }
    for (const l of a) if (!b.has(l)) out.push(`${cmd}: ${l}`);
  }
  return out;
}

/** Paths that share an inode in one tree must share one in the other. */
function linkGroupDiffs(a: string[], b: string[]): string[] {
  const groups = (lines: string[]): string[] => {
    const byIno = new Map<string, string[]>();
    for (const l of lines) {
      const f = l.split('|');
      if (f.length < 2) continue;
      const ino = f[f.length - 1]!;
      byIno.set(ino, [...(byIno.get(ino) ?? []), f[0]!]);
    }
    return [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort().join(' = ')).sort();
  };
  const gb = new Set(groups(b));
  return groups(a).filter((g) => !gb.has(g)).map((g) => `hard links: ${g}`);
}

describe.skipIf(!isRoot || !hasTools)('images and GNU tar (needs root, tar, zstd, acl, attr, libcap2-bin)', () => {
  let base: string;
  let src: string;
  let out: string;
  let packed: PackResult;

  beforeAll(async () => {
    base = tempDir('gnutar');
    src = path.join(base, 'src');
    out = path.join(base, 'out');
    for (const d of [src, out]) fs.mkdirSync(d);
    buildFidelityTree(src);
    packed = await packImage({ root: src, outDir: out });
  });
  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  it('GNU tar restores an image with no metadata difference', async () => {
    const dst = path.join(base, 'gnu');
    fs.mkdirSync(dst);
    const { codes, stderr } = await pipe2(
      ['zstd', ['-dc', packed.artifact]],
      ['tar', ['--xattrs', '--xattrs-include=*', '--acls', '--numeric-owner', '-xpf', '-', '-C', dst]],
    );
    const warnings = stderr.split('\n').filter((l) => l !== '' && !KNOWN_WARNINGS.some((w) => w.test(l)));
    const diffs = [...diffManifests(await buildManifest(src), await buildManifest(dst)), ...toolDiffs(src, dst)];
    console.log(`GNU tar restore: ${diffs.length} metadata differences${diffs.length ? `\n  ${diffs.join('\n  ')}` : ''}`);
    if (warnings.length) console.log(`GNU tar said:\n  ${warnings.join('\n  ')}`);
    expect(diffs).toEqual([]);
    expect(warnings).toEqual([]);
    expect(codes).toEqual([0, 0]);
    // Spot checks a reader can follow without the manifest.
    expect(execFileSync('getcap', ['ping'], { cwd: dst, encoding: 'utf8' })).toContain('cap_setuid,cap_net_raw=ep');
    expect(execFileSync('getfacl', ['-n', '-d', 'acl'], { cwd: dst, encoding: 'utf8' })).toContain('user:1234:rw-');
    expect(fs.readdirSync(Buffer.from(dst), { encoding: 'buffer' }).some((n) => n.equals(NON_UTF8_NAME))).toBe(true);
    const st = fs.statSync(path.join(dst, 'sparse.img'));
    expect(st.size).toBe(SPARSE_SIZE);
    expect(st.blocks * 512).toBeLessThan(4 << 20);
  });

  it('imgsrv restores what GNU tar writes (its pax records, ACLs, sparse 1.0) with no metadata difference', async () => {
    const tarFile = path.join(base, 'gnu.tar.zst');
    const dst = path.join(base, 'from-gnu');
    fs.mkdirSync(dst);
    const packedByTar = await pipe2(
      ['tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '--acls', '--sparse', '--numeric-owner', '-cpf', '-', '-C', src, '.']],
      ['zstd', ['-q', '-o', tarFile]],
    );
    expect(packedByTar.codes, packedByTar.stderr).toEqual([0, 0]);
    await unpackImage({ input: fs.createReadStream(tarFile), target: dst });
    const diffs = [...diffManifests(await buildManifest(src), await buildManifest(dst)), ...toolDiffs(src, dst)];
    console.log(`imgsrv restore of a GNU tar archive: ${diffs.length} metadata differences${diffs.length ? `\n  ${diffs.join('\n  ')}` : ''}`);
    expect(diffs).toEqual([]);
  });
});
