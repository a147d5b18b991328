// packImage and unpackImage behaviour beyond fidelity: streaming restore,
// progress, abort cleanup, clear errors. Runs without root.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildManifest, diffManifests } from './manifest.ts';
import { packImage } from './pack.ts';
import { unpackImage } from './unpack.ts';
import { ImgsrvError } from '../core/errors.ts';
import { tempDir } from './testdata/helpers.ts';

let base: string;
let src: string;
let out: string;
let dst: string;
beforeEach(() => {
  base = tempDir('packunpack');
  [src, out, dst] = ['src', 'out', 'dst'].map((d) => path.join(base, d)) as [string, string, string];
  for (const d of [src, out, dst]) fs.mkdirSync(d);
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

describe('unpackImage', () => {
  it('streams: the first file exists on disk while the input is still arriving', async () => {
    fs.writeFileSync(path.join(src, 'a-first'), 'first file\n');
    fs.writeFileSync(path.join(src, 'z-big'), randomBytes(3 << 20)); // incompressible: many chunks
    const packed = await packImage({ root: src, outDir: out });
    const bytes = fs.readFileSync(packed.artifact);
    const input = new PassThrough();
    const restore = unpackImage({ input, target: dst });
    let sawFirstEarly = false;
    const chunk = 32 * 1024;
    for (let i = 0; i < bytes.length; i += chunk) {
      input.write(bytes.subarray(i, i + chunk));
      await sleep(2);
      if (i + chunk < bytes.length && fs.existsSync(path.join(dst, 'a-first'))) sawFirstEarly = true;
    }
    input.end();
    await restore;
    expect(sawFirstEarly).toBe(true);
    expect(diffManifests(await buildManifest(src), await buildManifest(dst))).toEqual([]);
  });

  it('refuses a target that does not exist', async () => {
    fs.writeFileSync(path.join(src, 'f'), 'x');
    const packed = await packImage({ root: src, outDir: out });
    await expect(unpackImage({ input: Readable.from([fs.readFileSync(packed.artifact)]), target: path.join(base, 'nope') })).rejects.toThrow(ImgsrvError);
  });
});

describe('packImage', () => {
  it('reports progress at least every half second and ends with the totals', async () => {
    fs.writeFileSync(path.join(src, 'big'), randomBytes(8 << 20));
    const seen: Array<{ t: number; bytes: number }> = [];
    const t0 = Date.now();
    const r = await packImage({ root: src, outDir: out, level: 19, onProgress: (p) => seen.push({ t: Date.now() - t0, bytes: p.bytes }) });
    expect(seen.at(-1)?.bytes).toBe(r.rawBytes);
    const times = [0, ...seen.map((s) => s.t)];
    // Reported every 0.5 s; the bound leaves room for a loaded, shared machine while still
    // proving progress arrives during the pack and not only at its end.
    expect(seen.length).toBeGreaterThan(2);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeLessThan(2500);
  });

  it('removes its partial outputs when aborted', async () => {
    fs.writeFileSync(path.join(src, 'big'), randomBytes(32 << 20));
    const ac = new AbortController();
    const p = packImage({ root: src, outDir: out, level: 19, signal: ac.signal, onProgress: () => ac.abort(new Error('Ctrl-C')) });
    await expect(p).rejects.toThrow(/interrupted/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('refuses to overwrite an existing image and leaves it alone', async () => {
    fs.writeFileSync(path.join(src, 'f'), 'x');
    fs.writeFileSync(path.join(out, 'image.tar.zst'), 'previous');
    await expect(packImage({ root: src, outDir: out })).rejects.toThrow(/already holds an image/);
    expect(fs.readFileSync(path.join(out, 'image.tar.zst'), 'utf8')).toBe('previous');
  });

  it('fails clearly when the root is not a directory', async () => {
    await expect(packImage({ root: path.join(base, 'missing'), outDir: out })).rejects.toThrow(/packing .*missing/);
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('records mount points without entering them (needs root to mount a tmpfs)', async () => {
    const { execFileSync } = await import('node:child_process');
    const mnt = path.join(src, 'mnt');
    fs.mkdirSync(mnt);
    fs.writeFileSync(path.join(src, 'before'), 'b');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'imgsrv-test', mnt]);
    try {
      fs.writeFileSync(path.join(mnt, 'inside'), 'i');
      const paths = (await buildManifest(src)).map((e) => e.path.toString());
      expect(paths).toEqual(['.', 'before', 'mnt']);
      const crossing = (await buildManifest(src, { crossMounts: true })).map((e) => e.path.toString());
      expect(crossing).toEqual(['.', 'before', 'mnt', 'mnt/inside']);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
