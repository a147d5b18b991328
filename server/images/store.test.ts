import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packImage } from '../../images/pack.ts';
import { silentLogger } from '../../core/log.ts';
import { metaDraft } from '../capture/run.ts';
import { openStore, type Store } from '../store/db.ts';
import { exportBundle, importBundle } from './bundle.ts';
import { ImageLocks } from './locks.ts';
import { ImageStore, type MetaDraft } from './store.ts';
import { isVersionDir, nextVersion, parseImageRef } from '../../images/names.ts';

const hex = (c: string) => c.repeat(64);
const draft = (over: Partial<MetaDraft['artifact']> = {}): MetaDraft => ({
  format: 1,
  createdAt: new Date(0).toISOString(),
  sourceHost: 'root@198.18.0.10',
  host: { partitionTable: 'unknown', disks: [], filesystems: [], swap: [], bootMode: 'unknown', bootloader: 'unknown', kernels: [], interfaces: [] },
  artifact: { file: 'image.tar.zst', rawBytes: 100, compressedBytes: 10, sha256: hex('a'), zstdLevel: 3, files: 1, ...over },
  manifest: { file: 'manifest.jsonl', sha256: hex('b') },
});

describe('image store', () => {
  let dir: string;
  let db: Store;
  let store: ImageStore;
  let locks: ImageLocks;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'imgsrv-images-'));
    db = openStore(':memory:');
    locks = new ImageLocks(db.db);
    store = new ImageStore({ root: join(dir, 'images'), locks, logger: silentLogger });
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const publish = (name = 'web', files: Record<string, string> = { 'image.tar.zst': 'x' }) =>
    store.build(name, async (d) => {
      for (const [f, c] of Object.entries(files)) writeFileSync(join(d, f), c);
      return draft();
    });

  it('numbers versions 1, 2, 3 and lists them with stable fields', async () => {
    expect((await publish()).version).toBe(1);
    expect((await publish()).version).toBe(2);
    expect((await publish('db')).version).toBe(1);
    const list = store.list();
    expect(list.map((i) => `${i.name}@${i.version}`)).toEqual(['db@1', 'web@1', 'web@2']);
    expect(list[0]).toEqual({ name: 'db', version: 1, size: 100, compressedSize: 10, sha256: hex('a'), files: 1, sourceHost: 'root@198.18.0.10', createdAt: '1970-01-01T00:00:00.000Z', zstdLevel: 3, inUse: false, signedBy: null });
    expect(store.meta('web').version).toBe(2);
  });

  it('a failing build publishes nothing, removes its partial dir, and keeps the previous version', async () => {
    await publish();
    const before = readdirSync(join(dir, 'images', 'web'));
    await expect(
      store.build('web', async (d) => {
        writeFileSync(join(d, 'image.tar.zst'), 'half');
        throw new Error('disk on fire');
      }),
    ).rejects.toThrow('disk on fire');
    expect(readdirSync(join(dir, 'images', 'web'))).toEqual(before);
    // A draft the schema refuses fails at publish time, also without a trace.
    await expect(store.build('web', async () => draft({ sha256: 'nothex' }))).rejects.toThrow();
    expect(readdirSync(join(dir, 'images', 'web'))).toEqual(before);
    expect(store.versions('web')).toEqual([1]);
    expect((await publish()).version).toBe(2);
  });

  it('while a build runs, readers see no new version', async () => {
    let seenDuring: number[] = [];
    await store.build('web', async () => {
      seenDuring = store.versions('web');
      return draft();
    });
    expect(seenDuring).toEqual([]);
    expect(store.versions('web')).toEqual([1]);
  });

  it('refuses to remove a version in use, then removes it once released', async () => {
    await publish();
    await publish();
    locks.acquire('web', 1, 'deployment:7', 'deploying to rack 3');
    expect(store.list('web')[0]!.inUse).toBe(true);
    await expect(store.remove('web', 1)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/in use by deployment:7/) });
    expect(store.versions('web')).toEqual([1, 2]);
    await store.remove('web', 2);
    expect(locks.release('web', 1, 'deployment:7')).toBe(true);
    await store.remove('web', 1);
    expect(store.versions('web')).toEqual([]);
    await expect(store.remove('web', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // Numbers are not reused while the server runs, so a removed version's name never points at other content.
    expect((await publish()).version).toBe(3);
  });

  it('sweeps partial, deleting and incoming dirs a crash left behind', async () => {
    await publish();
    mkdirSync(join(dir, 'images', 'web', '.partial-2-abc'));
    mkdirSync(join(dir, 'images', 'web', '.deleting-1-abc'));
    mkdirSync(join(dir, 'images', '.incoming-abc'));
    expect(store.sweepPartials().sort()).toEqual(['.incoming-abc', 'web/.deleting-1-abc', 'web/.partial-2-abc']);
    expect(store.versions('web')).toEqual([1]);
  });

  it('parses references and numbers versions', () => {
    expect(parseImageRef('web@3')).toEqual({ name: 'web', version: 3 });
    expect(parseImageRef('web')).toEqual({ name: 'web', version: undefined });
    for (const bad of ['web@0', 'web@x', '../x@1', 'a@1@2', '@1']) expect(() => parseImageRef(bad), bad).toThrow();
    expect(() => parseImageRef('web', { requireVersion: true })).toThrow(/names no version/);
    expect([isVersionDir('12'), isVersionDir('012'), isVersionDir('.partial-1'), isVersionDir('0')]).toEqual([true, false, false, false]);
    expect(nextVersion([1, 5, 3])).toBe(6);
    expect(nextVersion([], 7)).toBe(8);
  });

  it('exports a bundle and imports it as its own version, then as the next one; refuses a damaged bundle', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'etc'), { recursive: true });
    writeFileSync(join(tree, 'etc', 'hostname'), 'sample\n');
    const v1 = await store.build('web', async (d) => metaDraft(await packImage({ root: tree, outDir: d }), { sourceHost: 'root@h', host: draft().host }));
    const file = join(dir, 'web-1.tar');
    await exportBundle(store, 'web', 1, createWriteStream(file));

    // Into an empty store: keeps version 1 and the name.
    const other = new ImageStore({ root: join(dir, 'other'), locks, logger: silentLogger });
    const a = await importBundle(other, createReadStream(file));
    expect(a).toMatchObject({ keptVersion: true, meta: { name: 'web', version: 1, artifact: { sha256: v1.artifact.sha256 } } });
    // Again: version 1 is taken, so it becomes 2; and under another name.
    expect((await importBundle(other, createReadStream(file))).meta.version).toBe(2);
    expect((await importBundle(other, createReadStream(file), { name: 'copy' })).meta).toMatchObject({ name: 'copy', version: 1 });

    // Truncated: refused, nothing published, no incoming dir left.
    const { size } = statSync(file);
    const cut = join(dir, 'cut.tar');
    await pipeline(createReadStream(file, { end: Math.floor(size / 2) }), createWriteStream(cut));
    await expect(importBundle(other, createReadStream(cut))).rejects.toMatchObject({ code: 'IMAGE_INVALID' });
    // Not a bundle at all.
    const junk = join(dir, 'junk.tar');
    writeFileSync(junk, Buffer.alloc(4096, 1));
    await expect(importBundle(other, createReadStream(junk))).rejects.toThrow();
    expect(other.versions('web')).toEqual([1, 2]);
    expect(readdirSync(join(dir, 'other')).sort()).toEqual(['copy', 'web']);
    expect(existsSync(join(dir, 'other', 'web', '3'))).toBe(false);
  });
});
