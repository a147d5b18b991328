// Hostile and broken archives: each must fail with a clear ImgsrvError and
// leave nothing outside the target. Archives are made with tar-stream + zstd.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unpackImage } from './unpack.ts';
import { ImgsrvError } from '../core/errors.ts';
import { craftTar, listTree, tempDir, zstd, type CraftedEntry } from './testdata/helpers.ts';

let base: string;
let target: string;
let outside: string;

beforeEach(() => {
  base = tempDir('safety');
  target = path.join(base, 'a', 'b', 'target');
  outside = path.join(base, 'outside');
  fs.mkdirSync(target, { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'passwd'), 'root:x:0:0\n');
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

const file = (name: string, body = 'owned\n'): CraftedEntry => ({ header: { name, type: 'file', mode: 0o644, size: body.length }, body: Buffer.from(body) });

async function unpackBytes(bytes: Buffer, timeoutMs = 10_000): Promise<unknown> {
  const timer = AbortSignal.timeout(timeoutMs); // "never hang": a hang fails the test as a timeout error
  try {
    await unpackImage({ input: Readable.from([bytes]), target, signal: timer });
    return undefined;
  } catch (err) {
    return err;
  }
}

function expectRefused(err: unknown, pattern: RegExp): void {
  expect(err).toBeInstanceOf(ImgsrvError);
  expect((err as ImgsrvError).message).toMatch(pattern);
  expect((err as ImgsrvError).message).not.toMatch(/interrupted/);
  expect(listTree(outside)).toEqual(['passwd']);
  expect(fs.readFileSync(path.join(outside, 'passwd'), 'utf8')).toBe('root:x:0:0\n');
  expect(fs.readdirSync(path.join(base, 'a', 'b')).sort()).toEqual(['target']);
}

describe('unpack refuses entries that escape the target', () => {
  it('refuses ../ names', async () => {
    const err = await unpackBytes(zstd(await craftTar([file('ok'), file('../x'), file('later')])));
    expectRefused(err, /refused entry "\.\.\/x": "\.\." in path/);
    expect(fs.existsSync(path.join(target, 'later'))).toBe(false);
  });

  it('refuses .. hidden inside a path', async () => {
    expectRefused(await unpackBytes(zstd(await craftTar([file('d/../../../outside/passwd')]))), /"\.\." in path/);
  });

  it('refuses absolute names', async () => {
    const abs = path.join(outside, 'abs');
    expectRefused(await unpackBytes(zstd(await craftTar([file(abs)]))), /absolute path/);
    expect(fs.existsSync(abs)).toBe(false);
  });

  it('refuses writing through a symlink that points outside', async () => {
    const err = await unpackBytes(zstd(await craftTar([
      { header: { name: 'evil', type: 'symlink', linkname: outside, mode: 0o777 } },
      file('evil/owned'),
    ])));
    expectRefused(err, /refused entry "evil\/owned": "evil" is a symlink/);
  });

  it('refuses writing through a symlink even when it points inside', async () => {
    const err = await unpackBytes(zstd(await craftTar([
      { header: { name: 'real', type: 'directory', mode: 0o755 } },
      { header: { name: 'alias', type: 'symlink', linkname: 'real', mode: 0o777 } },
      file('alias/x'),
    ])));
    expect((err as Error).message).toMatch(/"alias" is a symlink/);
  });

  it('replaces (never follows) a symlink when a later entry has its name', async () => {
    const err = await unpackBytes(zstd(await craftTar([
      { header: { name: 'passwd', type: 'symlink', linkname: path.join(outside, 'passwd'), mode: 0o777 } },
      file('passwd', 'replaced\n'),
    ])));
    expect(err).toBeUndefined();
    expect(fs.lstatSync(path.join(target, 'passwd')).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(outside, 'passwd'), 'utf8')).toBe('root:x:0:0\n');
  });

  it('never carries a directory\'s mode through a symlink that later took its name (fuzz-found)', async () => {
    fs.chmodSync(outside, 0o755);
    for (const link of [outside, '../../../outside', '..']) {
      const err = await unpackBytes(zstd(await craftTar([
        { header: { name: 'd', type: 'directory', mode: 0o777 } },
        { header: { name: 'd/e', type: 'directory', mode: 0o777 } },
        { header: { name: 'd/e', type: 'symlink', linkname: link, mode: 0o777 } },
        { header: { name: 'd', type: 'directory', mode: 0o750 } },
      ])));
      expect(err, link).toBeUndefined();
      expect(fs.statSync(outside).mode & 0o7777, link).toBe(0o755);
      expect(fs.statSync(path.join(target, 'd')).mode & 0o7777, link).toBe(0o750); // the later entry's mode
      expect(fs.statSync(path.join(base, 'a', 'b')).mode & 0o7777, link).toBe(0o755);
      expect(fs.lstatSync(path.join(target, 'd', 'e')).isSymbolicLink()).toBe(true);
      fs.rmSync(path.join(target, 'd'), { recursive: true });
    }
  });

  it('refuses hard links to ../../etc/passwd', async () => {
    const err = await unpackBytes(zstd(await craftTar([{ header: { name: 'pw', type: 'link', linkname: '../../../outside/passwd' } }])));
    expectRefused(err, /refused hard link "pw" → "\.\.\/\.\.\/\.\.\/outside\/passwd": "\.\." in path/);
    expect(fs.statSync(path.join(outside, 'passwd')).nlink).toBe(1);
  });

  it('refuses hard links to absolute paths', async () => {
    const err = await unpackBytes(zstd(await craftTar([{ header: { name: 'pw', type: 'link', linkname: path.join(outside, 'passwd') } }])));
    expectRefused(err, /absolute path/);
  });

  it('refuses hard links through a symlink to outside', async () => {
    const err = await unpackBytes(zstd(await craftTar([
      { header: { name: 'out', type: 'symlink', linkname: outside, mode: 0o777 } },
      { header: { name: 'pw', type: 'link', linkname: 'out/passwd' } },
    ])));
    expectRefused(err, /refused entry "out\/passwd": "out" is a symlink/);
    expect(fs.statSync(path.join(outside, 'passwd')).nlink).toBe(1);
  });
});

describe('unpack fails clearly on broken input and never hangs', () => {
  it('fails on a truncated stream', async () => {
    const whole = zstd(await craftTar([file('a', 'x'.repeat(100_000)), file('b', 'y'.repeat(100_000))]));
    for (const cut of [whole.length - 1, Math.floor(whole.length / 2), 10]) {
      const err = await unpackBytes(whole.subarray(0, cut));
      expect(err, `cut at ${cut}`).toBeInstanceOf(ImgsrvError);
      expect((err as Error).message, `cut at ${cut}`).toMatch(/truncated|corrupt/);
    }
  });

  it('fails on a tar stream cut at an entry boundary inside a complete zstd frame', async () => {
    const tarBytes = await craftTar([file('a', 'x'.repeat(1000)), file('b', 'y'.repeat(1000))]);
    const err = await unpackBytes(zstd(tarBytes.subarray(0, 512 + 1024 + 100)));
    expect((err as Error).message).toMatch(/corrupt|Unexpected end/);
  });

  it('fails on garbage bytes', async () => {
    const err = await unpackBytes(Buffer.from('this is not an image at all, just text\n'.repeat(50)));
    expect(err).toBeInstanceOf(ImgsrvError);
    expect((err as Error).message).toMatch(/not zstd|corrupt/);
  });

  it('fails on an empty input', async () => {
    expect((await unpackBytes(Buffer.alloc(0)) as Error).message).toMatch(/empty/);
  });

  it('fails on zstd holding garbage instead of tar', async () => {
    const err = await unpackBytes(zstd(Buffer.alloc(4096, 0x41)));
    expect((err as Error).message).toMatch(/corrupt/);
  });

  it('fails on a huge pax header instead of buffering it', async () => {
    const err = await unpackBytes(zstd(await craftTar([{ header: { name: 'big', type: 'file', size: 0, pax: { 'IMGSRV.junk': 'z'.repeat(5 << 20) } } }])));
    expect(err).toBeInstanceOf(ImgsrvError);
    expect((err as Error).message).toMatch(/Header exceeds max size/);
    expect(listTree(target)).toEqual([]);
  });

  it('fails when the input stream errors', async () => {
    const input = new Readable({ read() { this.destroy(new Error('connection reset by peer')); } });
    await expect(unpackImage({ input, target })).rejects.toThrow(/connection reset by peer/);
  });

  it('stops when aborted', async () => {
    const input = new Readable({ read() { /* never delivers */ } });
    const ac = new AbortController();
    const p = unpackImage({ input, target, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toThrow(/interrupted/);
  });
});

// Keep data on re-image: the kept partition is mounted at its mount point under the target while the image
// unpacks; an image holding files there (any capture of a host with /data mounted) must not touch them.
describe('kept directories', () => {
  it('never writes at or below a kept directory, nor links to it; everything else is restored', async () => {
    const data = path.join(target, 'data');
    fs.mkdirSync(path.join(data, 'sub'), { recursive: true, mode: 0o700 });
    fs.chmodSync(data, 0o700);
    fs.writeFileSync(path.join(data, 'a'), 'the node\'s own a\n');
    fs.writeFileSync(path.join(data, 'only-on-node'), 'kept\n');
    fs.utimesSync(path.join(data, 'a'), 1_000_000, 1_000_000);
    const before = new Map(listTree(data).map((p) => [p, fs.lstatSync(path.join(data, p))]));
    const bytes = zstd(
      await craftTar([
        { header: { name: 'data', type: 'directory', mode: 0o777 } },
        file('data/a', 'the image\'s a\n'),
        { header: { name: 'data/sub', type: 'directory', mode: 0o755 } },
        file('data/sub/new', 'from the image\n'),
        { header: { name: 'data/sub/evil', type: 'symlink', linkname: '/etc/shadow' } },
        file('data-not-kept/c', 'restored\n'),
        file('etc/x', 'restored\n'),
        { header: { name: 'etc/hard-to-kept', type: 'link', linkname: 'data/a' } },
      ]),
    );
    const r = await unpackImage({ input: Readable.from([bytes]), target, skip: ['/data'], signal: AbortSignal.timeout(10_000) });
    expect(r.kept).toBe(6);
    expect(fs.readFileSync(path.join(data, 'a'), 'utf8')).toBe('the node\'s own a\n');
    expect(listTree(data).sort()).toEqual([...before.keys()].sort());
    for (const [p, st] of before) {
      const now = fs.lstatSync(path.join(data, p));
      expect([now.mode, now.mtimeMs, now.size, now.ino], p).toEqual([st.mode, st.mtimeMs, st.size, st.ino]);
    }
    expect(fs.lstatSync(data).mode & 0o777).toBe(0o700);
    expect(fs.readFileSync(path.join(target, 'data-not-kept', 'c'), 'utf8')).toBe('restored\n');
    expect(fs.readFileSync(path.join(target, 'etc', 'x'), 'utf8')).toBe('restored\n');
    expect(fs.existsSync(path.join(target, 'etc', 'hard-to-kept'))).toBe(false);
  });
});
